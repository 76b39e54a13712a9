package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// A request with both Content-Length and Transfer-Encoding may be an attempt
// at request smuggling: RFC 9112 §6.3 (item 3) asks a server that answers it
// to close the connection afterwards, since whoever sent it may frame the
// bytes that follow differently. net/http follows Transfer-Encoding, as the
// RFC says, but removes Content-Length before a handler sees the request, so
// the handler cannot tell. The plaintext HTTP/1 listeners of the net/http
// engine and the admin server therefore follow the request framing in the
// bytes the server reads (framingConn) and close the connection after
// answering such a request.
//
// A TLS connection is left unwatched: net/http must see the *tls.Conn itself
// to serve it (HTTP/2 by ALPN, Request.TLS). Its peer is normally the client
// itself, not a front end that multiplexes clients onto one connection, which
// is where a framing disagreement can be exploited; see the README.

// framingListener wraps each plaintext connection it accepts in a
// framingConn.
type framingListener struct {
	net.Listener
}

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	if _, ok := c.(*tls.Conn); ok {
		return c, nil
	}
	return &framingConn{Conn: c}, nil
}

// framingConn is a server-side connection whose read bytes a framingScanner
// follows. The server reads it from one goroutine at a time; mu makes the
// scanner safe anyway, and served counts the requests handed to handlers.
type framingConn struct {
	net.Conn
	mu     sync.Mutex // guards sc
	sc     framingScanner
	served atomic.Int64
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.sc.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// closeAfter reports whether the connection must be closed after the
// answer to the request being handled: the next request the server handed
// to a handler. By then the server has read that request's header, so the
// scanner has judged it.
func (c *framingConn) closeAfter() bool {
	n := c.served.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sc.unsure != 0 && n >= c.sc.unsure
}

// upgrading stops the scanner before an upgrade (WebSocket): after a 101
// the bytes are no longer HTTP/1, and if the upgrade is refused the
// connection closes after the next request.
func (c *framingConn) upgrading() {
	c.mu.Lock()
	c.sc.stop(c.served.Load() + 1)
	c.mu.Unlock()
}

type framingConnKey struct{}

// framingConnContext is an http.Server.ConnContext that makes the
// connection's framingConn reachable from its requests.
func framingConnContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingConnKey{}, fc)
	}
	return ctx
}

// closeAmbiguous wraps h so that a request the framing scanner could not
// vouch for (both Content-Length and Transfer-Encoding, or a framing it
// could not follow) is answered with Connection: close.
func closeAmbiguous(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fc, ok := r.Context().Value(framingConnKey{}).(*framingConn); ok {
			if fc.closeAfter() {
				w.Header().Set("Connection", "close")
			} else if r.Header["Upgrade"] != nil {
				fc.upgrading()
			}
		}
		h.ServeHTTP(w, r)
	})
}

// framingScanner follows HTTP/1.1 request framing (RFC 9112 §2.1, §6, §7.1)
// through the bytes of one connection, fed in any split. It only needs to
// find where each request's header ends and its body ends, and whether a
// header has both Content-Length and Transfer-Encoding; everything else
// (validity, the values of other fields) is the server's parser's job. It
// keeps a few bytes of state, never the bytes themselves.
//
// When it meets what it cannot follow (a framing field it cannot read, a
// malformed chunk, both framing fields) it stops, and sets unsure to the
// number of the first request (1-based) whose framing it cannot vouch for;
// the server answers that one, and any after it, with Connection: close.
// Where it stops, net/http's own parser either agrees that the message is
// malformed (and closes the connection itself) or the connection closes
// after the request in question.
type framingScanner struct {
	state  scanState
	seq    int64 // the request whose header or body is being read (1-based)
	unsure int64 // the first request whose framing is in doubt; 0 if none

	name    [len("transfer-encoding")]byte
	nameLen int  // bytes of the field name so far; > len(name) for a longer one
	field   byte // the field being read: 0, 'l' (Content-Length) or 't' (Transfer-Encoding)
	digits  bool // a Content-Length value has begun
	ended   bool // a Content-Length value's digits have ended (OWS follows)
	value   int64
	cl      int64                   // the header's Content-Length; -1 if none
	te      bool                    // the header has Transfer-Encoding
	tail    [len("HTTP/1.1\r")]byte // the request line's last bytes so far
	http11  bool                    // the request line ends in HTTP/1.1
	remain  int64                   // body or chunk bytes still to pass
}

type scanState uint8

const (
	sStart        scanState = iota // before a request line: CR and LF are skipped
	sRequestLine                   // in the request line
	sLineStart                     // at the start of a header line
	sName                          // in a field name
	sValue                         // in a field value
	sHeaderEnd                     // after the CR of the empty line
	sBody                          // passing Content-Length bytes
	sChunkSize                     // in a chunk-size line
	sChunkExt                      // after the chunk size: OWS, extensions
	sChunkData                     // passing chunk data
	sChunkCR                       // expecting the CR after chunk data
	sChunkLF                       // expecting the LF after chunk data
	sTrailerStart                  // at the start of a trailer line
	sTrailer                       // in a trailer line
	sTrailerEnd                    // after the CR of the empty line ending the trailers
	sStopped                       // framing lost: nothing more is followed
)

const maxChunkSize = 1 << 62

func (s *framingScanner) feed(p []byte) {
	for len(p) > 0 {
		switch s.state {
		case sStart:
			// net/http tolerates empty lines before a request line after a
			// POST (RFC 9112 §2.2); more of them than it skips is a
			// malformed request it closes on.
			if p[0] == '\r' || p[0] == '\n' {
				p = p[1:]
				continue
			}
			s.seq++
			s.cl, s.te = -1, false
			s.tail = [len(s.tail)]byte{}
			s.state = sRequestLine
		case sRequestLine:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.keepTail(p)
				return
			}
			s.keepTail(p[:i])
			p = p[i+1:]
			t := s.tail[:]
			if t[len(t)-1] == '\r' {
				t = t[:len(t)-1]
			} else {
				t = t[1:]
			}
			s.http11 = string(t) == "HTTP/1.1"
			s.state = sLineStart
		case sLineStart:
			switch c := p[0]; c {
			case '\r':
				s.state = sHeaderEnd
				p = p[1:]
			case '\n':
				p = p[1:]
				s.endHeader()
			case ' ', '\t':
				// obs-fold: a continuation of the line before; net/http
				// refuses it in a header (a 400), except where it only
				// joins it, which must not happen to a framing field.
				s.stop(s.seq)
				return
			default:
				s.nameLen, s.field = 0, 0
				s.state = sName
			}
		case sName:
			c := p[0]
			p = p[1:]
			if c == ':' {
				s.field = s.classify()
				s.digits, s.ended, s.value = false, false, 0
				s.state = sValue
				continue
			}
			if c == '\n' { // a line without a colon: malformed
				s.stop(s.seq)
				return
			}
			if s.nameLen < len(s.name) {
				s.name[s.nameLen] = lower(c)
			}
			s.nameLen++
		case sValue:
			if s.field != 'l' {
				i := bytes.IndexByte(p, '\n')
				if i < 0 {
					return
				}
				p = p[i+1:]
				s.state = sLineStart
				continue
			}
			c := p[0]
			p = p[1:]
			switch {
			case c == '\n':
				if !s.digits || (s.cl >= 0 && s.cl != s.value) {
					// empty, or two that differ: net/http refuses both
					s.stop(s.seq)
					return
				}
				s.cl = s.value
				s.state = sLineStart
			case c == ' ' || c == '\t' || c == '\r':
				if s.digits {
					s.ended = true
				}
			case c >= '0' && c <= '9' && !s.ended:
				s.digits = true
				if s.value > (maxChunkSize-9)/10 {
					s.stop(s.seq)
					return
				}
				s.value = s.value*10 + int64(c-'0')
			default: // a list, a sign, anything but one number
				s.stop(s.seq)
				return
			}
		case sHeaderEnd:
			if p[0] != '\n' {
				s.stop(s.seq)
				return
			}
			p = p[1:]
			s.endHeader()
		case sBody, sChunkData:
			n := int64(len(p))
			if n > s.remain {
				n = s.remain
			}
			p = p[n:]
			s.remain -= n
			if s.remain == 0 {
				if s.state == sBody {
					s.state = sStart
				} else {
					s.state = sChunkCR
				}
			}
		case sChunkSize:
			c := p[0]
			if d, ok := unhex(c); ok {
				if s.value > maxChunkSize>>4 {
					s.stop(s.seq + 1)
					return
				}
				s.value = s.value<<4 | int64(d)
				s.digits = true
				p = p[1:]
				continue
			}
			if !s.digits {
				s.stop(s.seq + 1)
				return
			}
			s.state = sChunkExt
		case sChunkExt:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p = p[i+1:]
			if s.value == 0 {
				s.state = sTrailerStart
			} else {
				s.remain = s.value
				s.state = sChunkData
			}
		case sChunkCR, sChunkLF:
			want := byte('\r')
			if s.state == sChunkLF {
				want = '\n'
			}
			if p[0] != want {
				s.stop(s.seq + 1)
				return
			}
			p = p[1:]
			if s.state == sChunkCR {
				s.state = sChunkLF
			} else {
				s.value, s.digits = 0, false
				s.state = sChunkSize
			}
		case sTrailerStart:
			switch p[0] {
			case '\r':
				s.state = sTrailerEnd
			case '\n':
				s.state = sStart
			default:
				s.state = sTrailer
			}
			p = p[1:]
		case sTrailer:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p = p[i+1:]
			s.state = sTrailerStart
		case sTrailerEnd:
			if p[0] != '\n' {
				s.stop(s.seq + 1)
				return
			}
			p = p[1:]
			s.state = sStart
		case sStopped:
			return
		}
	}
}

// endHeader is the end of a request's header: what follows is its body.
func (s *framingScanner) endHeader() {
	switch {
	case s.te && s.cl >= 0:
		s.stop(s.seq) // RFC 9112 §6.3: answer, then close
	case s.te && !s.http11:
		// net/http ignores Transfer-Encoding before HTTP/1.1, where
		// another reader may not.
		s.stop(s.seq)
	case s.te:
		// net/http accepts only "chunked" and closes on anything else.
		s.value, s.digits = 0, false
		s.state = sChunkSize
	case s.cl > 0:
		s.remain = s.cl
		s.state = sBody
	default:
		s.state = sStart
	}
}

// classify names the field whose name has just ended.
func (s *framingScanner) classify() byte {
	name := s.name[:min(s.nameLen, len(s.name))]
	switch {
	case s.nameLen == len("content-length") && string(name) == "content-length":
		return 'l'
	case s.nameLen == len("transfer-encoding") && string(name) == "transfer-encoding":
		s.te = true
		return 't'
	}
	return 0
}

// keepTail keeps the last bytes of the request line in s.tail.
func (s *framingScanner) keepTail(b []byte) {
	if len(b) >= len(s.tail) {
		copy(s.tail[:], b[len(b)-len(s.tail):])
		return
	}
	copy(s.tail[:], s.tail[len(b):])
	copy(s.tail[len(s.tail)-len(b):], b)
}

// stop gives up following the connection from request seq on.
func (s *framingScanner) stop(seq int64) {
	s.state = sStopped
	if s.unsure == 0 {
		s.unsure = seq
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
