// Command basic protects a standard library http.ServeMux with tokenguard:
// an appservices.Client for the App Services Admin API, a cache in front of it,
// and the middleware in front of the handlers. See README.md to run it.
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

func main() {
	h, err := newHandler(appservices.Config{
		BaseURL:    os.Getenv("TOKENGUARD_API_URL"), // empty: App Services itself
		GroupID:    os.Getenv("TOKENGUARD_GROUP_ID"),
		AppID:      os.Getenv("TOKENGUARD_APP_ID"),
		PublicKey:  os.Getenv("TOKENGUARD_PUBLIC_KEY"),
		PrivateKey: os.Getenv("TOKENGUARD_PRIVATE_KEY"),
	})
	if err != nil {
		log.Fatal(err)
	}
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:3000")
	log.Printf("basic: listening on http://%s", addr)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// newHandler wires Admin API client -> cache -> middleware -> mux.
func newHandler(cfg appservices.Config) (http.Handler, error) {
	client, err := appservices.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	auth := middleware.New(cache.New(client, cache.Options{}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok") // no token needed
	})
	mux.Handle("GET /hello", auth.Handler(http.HandlerFunc(hello)))
	return mux, nil
}

func hello(w http.ResponseWriter, r *http.Request) {
	u, _ := middleware.UserFromContext(r.Context()) // always there behind auth
	fmt.Fprintf(w, "hello, %s\n", u.ID)
}
