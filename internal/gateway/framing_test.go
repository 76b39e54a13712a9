package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	getReq     = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	chunkedReq = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
	lengthReq  = "POST /a HTTP/1.1\r\nHost: x\r\ncontent-LENGTH:  5 \r\n\r\nhello"
	clteReq    = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
)

// The scanner follows pipelined requests of every framing and names the
// first one it cannot vouch for, however the bytes are split.
func TestFramingScanner(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		unsure int64 // 0: all followed
	}{
		{"bodyless", getReq + getReq, 0},
		{"content-length", lengthReq + getReq, 0},
		{"chunked with extension and trailer", chunkedReq + getReq + chunkedReq, 0},
		{"bare LF lines", "GET / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n1\nx\r\n0\n\n" + getReq, 0},
		{"empty lines between requests", lengthReq + "\r\n" + getReq, 0},
		{"both framing fields", getReq + clteReq + getReq, 2},
		{"both, Content-Length second", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n", 1},
		{"both, field names in odd case", "POST / HTTP/1.1\r\nTRANSFER-encoding: chunked\r\ncontent-length: 3\r\n\r\n", 1},
		{"chunked before HTTP/1.1", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + getReq, 1},
		{"obs-fold", "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 1},
		{"two lengths that differ", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 1},
		{"two equal lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx" + getReq, 0},
		{"a length list", "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", 1},
		{"a signed length", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx", 1},
		{"an empty length", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 1},
		{"a line without a colon", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", 1},
		{"a bad chunk size", getReq + "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 3},
		{"chunk data without CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n", 2},
		{"a name longer than the framing fields", "GET / HTTP/1.1\r\nTransfer-Encoding-Not: chunked\r\nContent-Length-Not: 3\r\n\r\n" + getReq, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var whole framingScanner
			whole.feed([]byte(tt.stream))
			assert.Equal(t, tt.unsure, whole.unsure, "fed at once")

			var bytewise framingScanner
			for i := range len(tt.stream) {
				bytewise.feed([]byte{tt.stream[i]})
			}
			assert.Equal(t, whole, bytewise, "fed a byte at a time")
		})
	}
}

// FuzzFramingScanner checks the scanner against net/http's own parser on
// any byte stream: however the stream is split, the scanner ends in the same
// state; and as long as it vouches for the framing, it counts the requests
// net/http reads, so it never loses its place and misjudges the next one.
func FuzzFramingScanner(f *testing.F) {
	for _, s := range []string{getReq + getReq, lengthReq + getReq, chunkedReq + getReq, clteReq + getReq,
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + getReq} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, split uint8) {
		var whole, pieces framingScanner
		whole.feed(stream)
		step := int(split%32) + 1
		for b := stream; len(b) > 0; {
			n := min(step, len(b))
			pieces.feed(b[:n])
			b = b[n:]
		}
		if whole != pieces {
			t.Fatalf("split every %d bytes: %+v, at once: %+v", step, pieces, whole)
		}

		// net/http's reading of the same bytes, request by request, as
		// its server does (which also skips a few empty lines after a
		// POST; the scanner skips any number, which only ever makes it
		// count requests net/http refuses). Where net/http's request n
		// ends, a scanner fed those bytes has ended request n too.
		rd := bytes.NewReader(stream)
		br := bufio.NewReader(rd)
		for n := int64(1); ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, err = io.Copy(io.Discard, req.Body)
			if whole.unsure != 0 && n >= whole.unsure {
				return // from here on, the connection closes after each answer
			}
			if err != nil {
				return
			}
			consumed := len(stream) - rd.Len() - br.Buffered()
			var upto framingScanner
			upto.feed(stream[:consumed])
			if upto.seq != n || upto.state != sStart {
				t.Fatalf("net/http read request %d in %q; the scanner is at request %d, state %d",
					n, stream[:consumed], upto.seq, upto.state)
			}
			if req.Method == "POST" {
				for {
					b, err := br.Peek(1)
					if err != nil || (b[0] != '\r' && b[0] != '\n') {
						break
					}
					_, _ = br.Discard(1)
				}
			}
		}
	})
}

// A request with both Content-Length and Transfer-Encoding is answered and
// then the connection is closed (RFC 9112 §6.3): a request pipelined behind
// it is never read. Chunked and sized requests keep the connection.
func TestAmbiguousFramingClosesTheConnection(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up, seenc := recordingUpstream(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Mode = ModeProxy
		cfg.Engine = engine
		cfg.Upstream = up.URL
		r := runGateway(t, cfg)
		auth := "Authorization: Bearer " + tok + "\r\n"

		t.Run("both framing fields", func(t *testing.T) {
			c, br := rawConn(t, r.data)
			_, err := io.WriteString(c, "POST /first HTTP/1.1\r\nHost: x\r\n"+auth+
				"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
				"GET /second HTTP/1.1\r\nHost: x\r\n"+auth+"\r\n")
			require.NoError(t, err)
			resp := readResponse(t, br)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.True(t, resp.Close, "Connection: close")
			requireClosed(t, br)
			s := <-seenc
			assert.Equal(t, "/first", s.path)
			assert.Equal(t, "abc", s.body, "the body as Transfer-Encoding frames it")
			assert.Empty(t, seenc, "the request behind it reached the upstream")
		})
		t.Run("chunked, then sized, keeps the connection", func(t *testing.T) {
			c, br := rawConn(t, r.data)
			_, err := io.WriteString(c, "POST /one HTTP/1.1\r\nHost: x\r\n"+auth+
				"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"+
				"POST /two HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 2\r\n\r\nhi")
			require.NoError(t, err)
			for _, want := range []seen{{path: "/one", body: "abc"}, {path: "/two", body: "hi"}} {
				resp := readResponse(t, br)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.False(t, resp.Close, want.path)
				s := <-seenc
				assert.Equal(t, want.path, s.path)
				assert.Equal(t, want.body, s.body)
			}
		})
		t.Run("a refusal, then the admin listener", func(t *testing.T) {
			for base, status := range map[string]int{r.data: http.StatusUnauthorized, r.admin: http.StatusNotFound} {
				c, br := rawConn(t, base)
				_, err := io.WriteString(c, "POST /revoke HTTP/1.1\r\nHost: x\r\n"+
					"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+getReq)
				require.NoError(t, err)
				resp := readResponse(t, br)
				assert.Equal(t, status, resp.StatusCode, base)
				assert.True(t, resp.Close, base)
				requireClosed(t, br)
			}
		})
	})
}
