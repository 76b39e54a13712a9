// Command chi protects a go-chi/chi router with tokenguard: public routes
// outside, and a route group whose every route needs a valid App Services
// access token (r.Use(auth.Handler)). See README.md to run it.
//
// It is its own module, so that chi never enters tokenguard's dependencies.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

func main() {
	h, err := newRouter(appservices.Config{
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
	log.Printf("chi: listening on http://%s", addr)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// newRouter wires Admin API client -> cache -> middleware on a route group.
func newRouter(cfg appservices.Config) (http.Handler, error) {
	client, err := appservices.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	auth := middleware.New(cache.New(client, cache.Options{}))

	r := chi.NewRouter()
	r.Use(chimw.RequestID, chimw.Recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok") // public
	})
	r.Group(func(r chi.Router) {
		r.Use(auth.Handler) // every route of this group needs a token
		r.Get("/me", me)
		r.Get("/orders/{id}", order)
	})
	return r, nil
}

func me(w http.ResponseWriter, r *http.Request) {
	u, _ := middleware.UserFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"user_id": u.ID, "device_id": u.DeviceID, "expires_at": u.ExpiresAt,
	})
}

func order(w http.ResponseWriter, r *http.Request) {
	u, _ := middleware.UserFromContext(r.Context())
	fmt.Fprintf(w, "order %s of user %s\n", chi.URLParam(r, "id"), u.ID)
}
