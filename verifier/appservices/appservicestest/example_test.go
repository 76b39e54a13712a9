package appservicestest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// post sends a JSON body with an optional bearer token and returns the status
// and body of the answer.
func post(c *http.Client, url, bearer string, body any) (int, []byte) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// adminLogin logs in to the Admin API with the server's key pair.
func adminLogin(s *appservicestest.Server) string {
	cfg := s.Config()
	_, body := post(s.Client(), s.AdminURL()+"/auth/providers/mongodb-cloud/login", "",
		map[string]string{"username": cfg.PublicKey, "apiKey": cfg.PrivateKey})
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tokens)
	return tokens.AccessToken
}

func verifyURL(s *appservicestest.Server) string {
	cfg := s.Config()
	return s.AdminURL() + "/groups/" + cfg.GroupID + "/apps/" + cfg.AppID + "/users/verify_token"
}

// A test logs a user in on the emulator and checks the access token through
// the Admin API's verify_token, as a gateway does.
func Example() {
	s := appservicestest.NewServer()
	defer s.Close()

	userID := s.AddUser("ada@example.com", "correct horse")
	sess, err := s.LoginUser("ada@example.com", "correct horse")
	if err != nil {
		panic(err)
	}

	status, body := post(s.Client(), verifyURL(s), adminLogin(s), map[string]string{"token": sess.AccessToken})
	var claims struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(body, &claims)
	fmt.Println(status, claims.Sub == userID)
	// Output: 200 true
}

// Advance moves the emulator's clock: a token past its 30 minutes gets the
// service's odd answer, 200 with the JSON string "token expired".
func ExampleServer_Advance() {
	s := appservicestest.NewServer()
	defer s.Close()
	token, _ := s.NewAccessToken(s.AddUser("ada@example.com", "correct horse"))

	s.Advance(appservicestest.DefaultTokenTTL)
	status, body := post(s.Client(), verifyURL(s), adminLogin(s), map[string]string{"token": token})
	fmt.Println(status, string(body))
	// Output: 200 "token expired"
}

// Sign makes tokens the service would never issue, here a refresh token
// presented to verify_token.
func ExampleServer_Sign() {
	s := appservicestest.NewServer()
	defer s.Close()
	refresh := s.Sign(jwt.MapClaims{"sub": "u", "typ": "refresh", "exp": s.Now().Add(time.Hour).Unix()})

	status, body := post(s.Client(), verifyURL(s), adminLogin(s), map[string]string{"token": refresh})
	fmt.Println(status, string(body))
	// Output: 401 {"error":"token is not an access token"}
}

// FailNext injects failures: here the next verify_token call is rate limited.
func ExampleServer_FailNext() {
	s := appservicestest.NewServer()
	defer s.Close()
	token, _ := s.NewAccessToken(s.AddUser("ada@example.com", "correct horse"))
	admin := adminLogin(s)

	s.FailNext(1, appservicestest.Fault{
		Endpoint:   appservicestest.EndpointVerifyToken,
		Kind:       appservicestest.FaultStatus,
		Status:     http.StatusTooManyRequests,
		RetryAfter: 2 * time.Second,
	})
	first, _ := post(s.Client(), verifyURL(s), admin, map[string]string{"token": token})
	second, _ := post(s.Client(), verifyURL(s), admin, map[string]string{"token": token})
	fmt.Println(first, second, s.Calls(appservicestest.EndpointVerifyToken))
	// Output: 429 200 2
}

// Revoking a user's sessions does not stop verify_token from accepting the
// tokens already issued, just as in App Services; WithStrictRevocation does.
func ExampleWithStrictRevocation() {
	for _, strict := range []bool{false, true} {
		s := appservicestest.NewServer(appservicestest.WithStrictRevocation(strict))
		userID := s.AddUser("ada@example.com", "correct horse")
		token, _ := s.NewAccessToken(userID)
		admin := adminLogin(s)
		cfg := s.Config()

		req, _ := http.NewRequest("PUT", s.AdminURL()+"/groups/"+cfg.GroupID+"/apps/"+cfg.AppID+"/users/"+userID+"/logout", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, _ := s.Client().Do(req)
		resp.Body.Close()

		status, _ := post(s.Client(), verifyURL(s), admin, map[string]string{"token": token})
		fmt.Printf("strict=%v revoke=%d verify=%d\n", strict, resp.StatusCode, status)
		s.Close()
	}
	// Output:
	// strict=false revoke=204 verify=200
	// strict=true revoke=204 verify=401
}

// Under ConfirmEmail a registration waits for the token of its confirmation
// email, which the emulator hands to WithMailer instead of sending it.
func ExampleWithMailer() {
	mail := make(chan appservicestest.Mail, 1)
	s := appservicestest.NewServer(
		appservicestest.WithConfirmation(appservicestest.ConfirmEmail),
		appservicestest.WithMailer(func(m appservicestest.Mail) { mail <- m }),
	)
	defer s.Close()
	userpass := s.ClientURL() + "/app/" + appservicestest.DefaultClientAppID + "/auth/providers/local-userpass"

	registered, _ := post(s.Client(), userpass+"/register", "", map[string]string{"email": "ada@example.com", "password": "correct horse"})
	_, early := s.LoginUser("ada@example.com", "correct horse")
	m := <-mail
	confirmed, _ := post(s.Client(), userpass+"/confirm", "", map[string]string{"token": m.Token, "tokenId": m.TokenID})
	_, err := s.LoginUser("ada@example.com", "correct horse")
	fmt.Println(registered, early, m.Kind, m.To, confirmed, err)
	// Output: 201 appservicestest: invalid username/password confirm ada@example.com 204 <nil>
}
