package appservicestest

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A FaultKind is a way for a call to fail.
type FaultKind int

const (
	// FaultStatus answers Status (default 503) with Body, or with an
	// App Services error body when Body is empty, and a Retry-After header
	// when RetryAfter > 0.
	FaultStatus FaultKind = iota
	// FaultReset resets the connection (RST) without answering.
	FaultReset
	// FaultStall answers nothing and holds the request until the client
	// gives up or the server stops.
	FaultStall
	// FaultSlowBody runs the call normally but writes its body one byte at a
	// time, Delay apart.
	FaultSlowBody
	// FaultMalformedJSON answers 200 with a truncated JSON body.
	FaultMalformedJSON
	// FaultOversized answers 200 with a well-formed JSON object larger than
	// 1 MiB (OversizedBodyLen bytes).
	FaultOversized
)

// OversizedBodyLen is the length of a FaultOversized body: over 1 MiB.
const OversizedBodyLen = 1<<20 + 1024

// defaultSlowDelay is FaultSlowBody's pause between bytes when Delay is zero.
const defaultSlowDelay = 20 * time.Millisecond

// A Fault describes how calls fail; see FailNext and FailFraction.
type Fault struct {
	// Endpoint limits the fault to one endpoint; "" means every endpoint.
	Endpoint Endpoint
	// Kind is how the call fails.
	Kind FaultKind
	// Status is FaultStatus's HTTP status. Default: 503.
	Status int
	// RetryAfter, if positive, is sent as a Retry-After header (whole
	// seconds, rounded up) with FaultStatus.
	RetryAfter time.Duration
	// Body, if not empty, is FaultStatus's body, sent as is.
	Body string
	// Delay is FaultSlowBody's pause before each byte. Default: 20ms.
	Delay time.Duration
}

// FailNext makes the next n calls that f.Endpoint matches fail as f
// describes. Faults queue: a second FailNext applies after the first is used
// up. Calls made while a fault applies are still counted by Calls.
func (s *Server) FailNext(n int, f Fault) {
	if n <= 0 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.next = append(s.faults.next, &countedFault{left: n, f: f})
}

// FailFraction makes each call that f.Endpoint matches fail as f describes
// with probability p (0 < p <= 1), until ClearFaults. FailNext faults take
// precedence.
func (s *Server) FailFraction(p float64, f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.frac = append(s.faults.frac, fractionFault{p: p, f: f})
}

// ClearFaults removes every fault set by FailNext and FailFraction.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.next, s.faults.frac = nil, nil
}

type countedFault struct {
	left int
	f    Fault
}

type fractionFault struct {
	p float64
	f Fault
}

type faultSet struct {
	mu   sync.Mutex // guards next, frac
	next []*countedFault
	frac []fractionFault
}

// take returns the fault that applies to a call of e, if any, using up one
// count of a FailNext fault.
func (fs *faultSet) take(e Endpoint) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, cf := range fs.next {
		if cf.f.Endpoint != "" && cf.f.Endpoint != e {
			continue
		}
		cf.left--
		if cf.left == 0 {
			fs.next = append(fs.next[:i:i], fs.next[i+1:]...)
		}
		return cf.f, true
	}
	for _, ff := range fs.frac {
		if (ff.f.Endpoint == "" || ff.f.Endpoint == e) && rand.Float64() < ff.p {
			return ff.f, true
		}
	}
	return Fault{}, false
}

// applyFault fails the call as f says; h is the call's real handler, used
// by FaultSlowBody.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault, h handlerFunc) {
	switch f.Kind {
	case FaultReset:
		resetConn(w)
	case FaultStall:
		<-r.Context().Done()
		abort()
	case FaultSlowBody:
		s.slowBody(w, r, f, h)
	case FaultMalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"sub":"` + "0123456789abcdef"))
	case FaultOversized:
		writeOversized(w)
	default:
		status := f.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		if f.RetryAfter > 0 {
			secs := (f.RetryAfter + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(f.Body))
			return
		}
		writeError(w, status, http.StatusText(status), strings.ReplaceAll(http.StatusText(status), " ", ""))
	}
}

// resetConn closes the connection with SO_LINGER 0, so the peer sees a
// connection reset rather than an orderly close.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// No connection to reset (httptest.ResponseRecorder): fail the
		// call as a bare 502 instead, so the caller still sees an error.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func writeOversized(w http.ResponseWriter) {
	prefix := []byte(`{"sub":"`)
	suffix := []byte(`"}`)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(OversizedBodyLen))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(prefix); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("a"), 32<<10)
	left := OversizedBodyLen - len(prefix) - len(suffix)
	for left > 0 {
		n := min(left, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		left -= n
	}
	_, _ = w.Write(suffix)
}

// bufferedResponse captures a handler's answer for FaultSlowBody.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// slowBody runs the real handler, then sends its body a byte at a time,
// stopping when the request context ends.
func (s *Server) slowBody(w http.ResponseWriter, r *http.Request, f Fault, h handlerFunc) {
	buf := &bufferedResponse{header: http.Header{}}
	h(s, buf, r)
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	w.WriteHeader(buf.status)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil { // the headers go out at once, the body drips
		return
	}
	d := f.Delay
	if d <= 0 {
		d = defaultSlowDelay
	}
	for _, c := range buf.body.Bytes() {
		if !sleepCtx(r.Context(), d) {
			abort()
		}
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
