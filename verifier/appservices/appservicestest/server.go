package appservicestest

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// handlerFunc is a handler that is a method expression of *Server.
type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request)

// A Server is an in-memory App Services emulator listening on a loopback
// address, shaped like httptest.Server. It serves the Admin API under
// /api/admin/v3.0 and the client API under /api/client/v2.0.
//
// All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the form http://127.0.0.1:port, with no path.
	URL string

	cfg     settings
	handler http.Handler
	client  *http.Client

	// Token machinery; read-only after NewServer.
	parser    *jwt.Parser
	clientKey []byte
	adminKey  []byte
	clientKF  jwt.Keyfunc
	adminKF   jwt.Keyfunc

	clockOffset atomic.Int64 // nanoseconds added to cfg.now by Advance
	latency     atomic.Int64 // fixed delay, nanoseconds
	jitter      atomic.Int64 // random extra delay bound, nanoseconds
	calls       map[Endpoint]*atomic.Int64

	faults faultSet
	// testHook, if set, is called with each request's endpoint once it is
	// counted, before latency, faults and the gate: tests use it to know a
	// request has arrived without polling.
	testHook atomic.Pointer[func(Endpoint)]
	gate     gate
	ids      idGen
	admin    adminState

	mu sync.RWMutex // guards st
	st store

	lmu    sync.Mutex // guards addr, gen, closed
	addr   string     // the address bound first; Restart binds it again
	gen    *generation
	closed bool
}

// NewServer starts and returns a new Server, listening on 127.0.0.1:0 unless
// WithAddr says otherwise. Like httptest.NewServer it panics if it cannot
// listen. The caller must Close it.
func NewServer(opts ...Option) *Server {
	s, err := Start(opts...)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Start is NewServer for programs: it returns an error instead of panicking
// when it cannot listen (the tokenguard emulator command uses it).
func Start(opts ...Option) (*Server, error) {
	cfg := defaultSettings()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.now == nil {
		panic("appservicestest: WithClock(nil)")
	}
	if cfg.confirmation == ConfirmFunction && cfg.confirmFn == nil {
		panic("appservicestest: ConfirmFunction needs WithConfirmationFunction")
	}
	s := &Server{
		cfg:   cfg,
		calls: make(map[Endpoint]*atomic.Int64, len(allEndpoints)),
		st:    newStore(),
	}
	for _, e := range allEndpoints {
		s.calls[e] = new(atomic.Int64)
	}
	s.initTokens()
	s.ids.init()
	s.st.localProviderID = s.ids.next(s.Now())
	s.st.anonProviderID = s.ids.next(s.Now())
	s.st.apiKeyProviderID = s.ids.next(s.Now())
	s.latency.Store(int64(cfg.latency))
	s.jitter.Store(int64(cfg.jitter))
	s.gate.init()
	s.handler = s.newMux()
	s.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil, // never route loopback calls through a proxy
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("appservicestest: failed to listen on %s: %w", cfg.addr, err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.gen = s.serve(ln)
	return s, nil
}

// AdminURL returns the Admin API base URL: URL + "/api/admin/v3.0".
func (s *Server) AdminURL() string { return s.URL + adminPrefix }

// ClientURL returns the client API base URL: URL + "/api/client/v2.0".
func (s *Server) ClientURL() string { return s.URL + clientPrefix }

// Client returns an HTTP client for the server. Close closes its idle
// connections.
func (s *Server) Client() *http.Client { return s.client }

// Handler returns the server's HTTP handler, for driving it without a
// network (fuzzing, httptest.NewRecorder). Faults that need a connection
// (FaultReset) need the real listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Config returns an appservices.Config for a Client that talks to this server:
// BaseURL, GroupID, AppID, PublicKey, PrivateKey and HTTPClient are filled
// in, and Now is the server's clock (Now), so that the client and the
// emulator agree on time when a test calls Advance. Set Now to nil for a
// client that keeps wall time.
func (s *Server) Config() appservices.Config {
	return appservices.Config{
		BaseURL:    s.URL,
		GroupID:    s.cfg.groupID,
		AppID:      s.cfg.appID,
		PublicKey:  s.cfg.publicKey,
		PrivateKey: s.cfg.privateKey,
		HTTPClient: s.client,
		Now:        s.Now,
	}
}

// Now returns the server's current time: the base clock plus every Advance.
func (s *Server) Now() time.Time {
	return s.cfg.now().Add(time.Duration(s.clockOffset.Load()))
}

// Advance moves the server's clock forward by d (backward if d < 0).
func (s *Server) Advance(d time.Duration) { s.clockOffset.Add(int64(d)) }

func (s *Server) newMux() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern, s.wrap(rt))
	}
	mux.Handle("/", unrouted(mux))
	return mux
}

// wrap applies the knobs shared by every endpoint: call counting, faults,
// latency (Admin API only) and the verify_token gate.
func (s *Server) wrap(rt route) http.Handler {
	counter := s.calls[rt.e]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g, ok := r.Context().Value(genKey{}).(*generation); ok {
			g.enter()
			defer g.exit()
		}
		counter.Add(1)
		if h := s.testHook.Load(); h != nil {
			(*h)(rt.e)
		}
		ctx := r.Context()
		f, faulty := s.faults.take(rt.e)
		if rt.admin && !s.delay(ctx) {
			abort()
		}
		if faulty {
			s.applyFault(w, r, f, rt.h)
			return
		}
		if rt.e == EndpointVerifyToken && !s.gate.wait(ctx) {
			abort()
		}
		rt.h(s, w, r)
	})
}

// abort ends a request whose context is done without answering: net/http
// closes the connection (or resets the stream) instead of sending an empty
// 200, and logs nothing.
func abort() { panic(http.ErrAbortHandler) }
