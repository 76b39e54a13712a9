package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// burstResult is the outcome of one stampede: n requests fired at once.
type burstResult struct {
	LatUS    []float64   // per completed request, microseconds, sorted
	FirstUS  []float64   // the first request of each connection (the ones released together), sorted
	Statuses map[int]int // HTTP status -> count
	Errors   int         // requests that got no HTTP answer
}

// non2xx counts answers outside 200-299.
func (b burstResult) non2xx() int64 {
	var n int64
	for code, c := range b.Statuses {
		if code < 200 || code > 299 {
			n += int64(c)
		}
	}
	return n
}

// burst opens conns connections to target (host:port) first, waits until
// every one is established, then releases n requests carrying token at once,
// spread over the connections (conns == n: all truly concurrent). Using raw
// connections keeps the load generator's own pooling out of the picture.
func burst(ctx context.Context, target, token string, n, conns int) (burstResult, error) {
	conns = max(1, min(conns, n))
	req := []byte("GET / HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: tokenguard-bench\r\n" +
		"Authorization: Bearer " + token + "\r\n\r\n")
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	var d net.Dialer
	for range conns {
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return burstResult{}, fmt.Errorf("burst: dial %s: %w", target, err)
		}
		cs = append(cs, c)
	}
	// Give the server a moment to accept them all, so the burst measures
	// request handling rather than the accept queue.
	select {
	case <-ctx.Done():
		return burstResult{}, ctx.Err()
	case <-time.After(200 * time.Millisecond):
	}

	var (
		mu  sync.Mutex // guards res
		res = burstResult{Statuses: map[int]int{}}
		wg  sync.WaitGroup
	)
	start := make(chan struct{})
	deadline := time.Now().Add(30 * time.Second)
	for i, c := range cs {
		share := n / conns
		if i < n%conns {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetDeadline(deadline)
			br := bufio.NewReader(c)
			<-start
			for k := range share {
				t0 := time.Now()
				code, err := roundTrip(c, br, req)
				lat := float64(time.Since(t0).Microseconds())
				mu.Lock()
				if err != nil {
					// The connection is unusable: this and the rest of its share fail.
					res.Errors += share - k
				} else {
					res.Statuses[code]++
					res.LatUS = append(res.LatUS, lat)
					if k == 0 {
						res.FirstUS = append(res.FirstUS, lat)
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	sort.Float64s(res.LatUS)
	sort.Float64s(res.FirstUS)
	return res, nil
}

// roundTrip writes one request and reads its whole answer.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte) (int, error) {
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}
