package appservicestest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Close shuts the server down: it closes the listener and every connection,
// ends the requests in flight (stalled and blocked ones included) and waits
// for their goroutines to return. Close is idempotent.
func (s *Server) Close() {
	s.lmu.Lock()
	g := s.gen
	s.gen = nil
	s.closed = true
	s.lmu.Unlock()
	if g != nil {
		g.stop()
	}
	if t, ok := s.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// Stop closes the listener and every connection but keeps all state, so that
// clients see "connection refused" until Restart. Requests in flight end as
// with Close. Stop on a stopped server does nothing.
func (s *Server) Stop() {
	s.lmu.Lock()
	g := s.gen
	s.gen = nil
	s.lmu.Unlock()
	if g != nil {
		g.stop()
	}
	if t, ok := s.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// Restart listens again on the address the server first bound, after Stop.
// It does nothing if the server is running and fails after Close.
func (s *Server) Restart() error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed {
		return errors.New("appservicestest: restart of a closed server")
	}
	if s.gen != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("appservicestest: restart: %w", err)
	}
	s.gen = s.serve(ln)
	return nil
}

// generation is one listening period of the server, from NewServer or
// Restart to Stop or Close.
type generation struct {
	srv    *http.Server
	cancel context.CancelFunc // ends every request context of this generation
	served chan struct{}      // closed when Serve has returned

	mu     sync.Mutex // guards conns, closed
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // open connections and running handlers
}

type genKey struct{}

func (s *Server) serve(ln net.Listener) *generation {
	base, cancel := context.WithCancel(context.Background())
	g := &generation{cancel: cancel, served: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	base = context.WithValue(base, genKey{}, g)
	g.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         g.connState,
		ErrorLog:          nil,
	}
	go func() {
		defer close(g.served)
		_ = g.srv.Serve(ln) // always ErrServerClosed or a listener error
	}()
	return g
}

// connState tracks connections so that stop can wait for them. StateNew is
// reported by the Serve goroutine before it starts the connection's
// goroutine, so every Add happens before stop's Wait.
func (g *generation) connState(c net.Conn, cs http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch cs {
	case http.StateNew:
		g.wg.Add(1)
		g.conns[c] = struct{}{}
		if g.closed {
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		if _, ok := g.conns[c]; ok {
			delete(g.conns, c)
			g.wg.Done()
		}
	}
}

// enter registers a running handler. It is called while the handler's
// connection is tracked, so the count never rises from zero during stop.
func (g *generation) enter() { g.wg.Add(1) }
func (g *generation) exit()  { g.wg.Done() }

// stop closes the listener and the connections first, so that requests held
// by latency, Block or FaultStall see a dead connection rather than answer,
// then ends their contexts and waits for every handler and connection.
func (g *generation) stop() {
	_ = g.srv.Close()
	g.cancel()
	<-g.served
	g.mu.Lock()
	g.closed = true
	for c := range g.conns {
		_ = c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}
