// Command reverseproxy puts tokenguard in front of an upstream by hand, with
// httputil.ReverseProxy: the middleware in gateway mode authenticates every
// request, replaces the X-Auth-* headers the client sent with the verified
// identity, removes the token, and only then is the request forwarded. It is
// what `tokenguard proxy` does, in a page. See README.md to run it.
package main

import (
	"cmp"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

func main() {
	upstream, err := url.Parse(cmp.Or(os.Getenv("UPSTREAM"), "http://127.0.0.1:3000"))
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := newHandler(appservices.Config{
		BaseURL:    os.Getenv("TOKENGUARD_API_URL"), // empty: App Services itself
		GroupID:    os.Getenv("TOKENGUARD_GROUP_ID"),
		AppID:      os.Getenv("TOKENGUARD_APP_ID"),
		PublicKey:  os.Getenv("TOKENGUARD_PUBLIC_KEY"),
		PrivateKey: os.Getenv("TOKENGUARD_PRIVATE_KEY"),
	}, upstream, reg)
	if err != nil {
		log.Fatal(err)
	}
	go func() { // metrics on their own, unproxied, loopback listener
		log.Fatal(http.ListenAndServe("127.0.0.1:9090", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	}()
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080")
	log.Printf("reverseproxy: http://%s -> %s", addr, upstream)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// newHandler wires Admin API client -> cache -> gateway-mode middleware ->
// httputil.ReverseProxy to upstream, with metrics registered on reg.
func newHandler(cfg appservices.Config, upstream *url.URL, reg prometheus.Registerer) (http.Handler, error) {
	client, err := appservices.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	// A verified token answers from memory for up to 5 minutes, and for one
	// more while App Services is unreachable.
	c := cache.New(client, cache.Options{StaleIfError: time.Minute, Registerer: reg})
	auth := middleware.New(c, middleware.WithIdentityHeaders(middleware.IdentityHeaders{}), middleware.WithRegisterer(reg))
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded() // from the connection, never from the client
			// The proxy drops the headers a client names in Connection, the
			// identity headers included: set them again.
			if u, ok := middleware.UserFromContext(pr.In.Context()); ok {
				for _, h := range auth.IdentityHeaders(u) {
					pr.Out.Header[h.Name] = []string{h.Value}
				}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away: nobody to answer, nothing to report
			}
			log.Printf("reverseproxy: %s %s: %v", r.Method, r.URL.Path, err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"error":"bad_gateway","error_description":"The upstream could not be reached."}` + "\n"))
		},
	}
	return auth.Handler(proxy), nil
}
