package appservicestest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// idGen makes 24-hex ObjectIds: 4 bytes of Unix seconds, 5 random bytes fixed
// per server and a 3-byte counter. Ids grow strictly, so ordering users by
// _id orders them by creation, as in MongoDB.
type idGen struct {
	mu      sync.Mutex // guards lastTS, counter
	lastTS  uint32
	counter uint32
	machine [5]byte
}

func (g *idGen) init() {
	_, _ = rand.Read(g.machine[:]) // crypto/rand.Read never fails
}

func (g *idGen) next(now time.Time) string {
	g.mu.Lock()
	ts := uint32(now.Unix())
	if ts < g.lastTS {
		ts = g.lastTS // the clock went back (Advance(-d)): keep ids growing
	}
	if ts != g.lastTS {
		g.lastTS, g.counter = ts, 0
	} else if g.counter++; g.counter >= 1<<24 {
		g.lastTS++ // counter exhausted within one second: borrow the next
		g.counter = 0
	}
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], g.lastTS)
	copy(b[4:9], g.machine[:])
	b[9], b[10], b[11] = byte(g.counter>>16), byte(g.counter>>8), byte(g.counter)
	g.mu.Unlock()
	return hex.EncodeToString(b[:])
}

// validID reports whether s looks like an ObjectId: 24 lowercase hex digits.
func validID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
