// Package appservices checks App Services (MongoDB Atlas Device SDK / Realm)
// client access tokens and manages App Services users through the Admin API.
//
// Client is the verifier.Verifier backed by the Admin API's verify_token endpoint, and
// a typed client of the 12 Users operations (create, delete, disable, enable,
// get, list, list devices, list and delete pending registrations, change
// email, revoke sessions, verify). NewClient takes a Config whose zero values
// are documented defaults; only the project and app ids and the API key pair
// are required:
//
//	c, err := appservices.NewClient(appservices.Config{
//		GroupID:    "5f...", // Atlas project id
//		AppID:      "63...", // the app's _id, not its client_app_id
//		PublicKey:  os.Getenv("ATLAS_PUBLIC_KEY"),
//		PrivateKey: os.Getenv("ATLAS_PRIVATE_KEY"),
//	})
//	...
//	u, err := c.Verify(ctx, token)
//
// The Client logs in to the Admin API on first use and keeps the admin
// session fresh: it refreshes the access token Config.RefreshMargin before
// it expires (in the background, while the old one is still used), logs in
// again when a refresh fails, and answers a 401 InvalidSession by renewing
// the session and retrying the call once. Concurrent callers share a single
// login or refresh; each can give up on its own context without cancelling
// it for the others.
//
// The Users operations return an *APIError for an error answer (errors.As;
// see its Code, such as CodeUserNotFound) and an error satisfying
// errors.Is(err, verifier.ErrUnavailable) when no answer could be had or read. Any 2xx
// status is success (the spec's are 201 for CreateUser, 200 for reads and 204
// for the rest). AllUsers and AllPendingUsers walk every page of a list.
//
// App Services keeps accepting access tokens issued before a user's sessions
// were revoked or the user disabled, until they expire. Client.OnRevoke tells
// a verifier.Revoker (a cache, package cache) of each revocation made
// through the Client, so that it bites at once.
//
// Package appservicestest provides an in-process emulator of the App Services
// APIs for tests and demos.
package appservices
