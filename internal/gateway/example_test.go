package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// Example runs a forward-auth gateway against the App Services emulator,
// the way `tokenguard forward-auth` does, and asks it about two requests.
func Example() {
	emu := appservicestest.NewServer()
	defer emu.Close()
	userID := emu.AddUser("ada@example.com", "pw")
	token, _ := emu.NewAccessToken(userID)

	ec := emu.Config()
	g, err := gateway.New(gateway.Config{
		Mode:       gateway.ModeForwardAuth,
		APIURL:     ec.BaseURL,
		GroupID:    ec.GroupID,
		AppID:      ec.AppID,
		PublicKey:  ec.PublicKey,
		PrivateKey: ec.PrivateKey,
		CacheSize:  1000,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := net.Listen("tcp", "127.0.0.1:0")
	admin, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, data, admin) }()
	<-g.Ready()

	for _, authz := range []string{"Bearer " + token, ""} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+data.Addr().String()+"/", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("X-Auth-User-Id") == userID)
	}
	resp, _ := http.Get("http://" + admin.Addr().String() + "/readyz")
	resp.Body.Close()
	fmt.Println("readyz", resp.StatusCode)

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 true
	// 401 false
	// readyz 200
	// stopped: <nil>
}
