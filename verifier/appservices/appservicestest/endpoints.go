package appservicestest

// An Endpoint names one operation of the emulated API, for call counters and
// fault targeting.
type Endpoint string

// The endpoints the emulator serves.
const (
	EndpointAdminLogin        Endpoint = "admin_login"         // POST   /api/admin/v3.0/auth/providers/mongodb-cloud/login
	EndpointAdminRefresh      Endpoint = "admin_refresh"       // POST   /api/admin/v3.0/auth/session
	EndpointAdminLogout       Endpoint = "admin_logout"        // DELETE /api/admin/v3.0/auth/session
	EndpointCreateUser        Endpoint = "create_user"         // POST   .../users
	EndpointDeletePendingUser Endpoint = "delete_pending_user" // DELETE .../user_registrations/by_email/{email}
	EndpointDeleteUser        Endpoint = "delete_user"         // DELETE .../users/{userId}
	EndpointDisableUser       Endpoint = "disable_user"        // PUT    .../users/{userId}/disable
	EndpointEnableUser        Endpoint = "enable_user"         // PUT    .../users/{userId}/enable
	EndpointGetUser           Endpoint = "get_user"            // GET    .../users/{userId}
	EndpointListDevices       Endpoint = "list_devices"        // GET    .../users/{userId}/devices
	EndpointListPendingUsers  Endpoint = "list_pending_users"  // GET    .../user_registrations/pending_users
	EndpointListUsers         Endpoint = "list_users"          // GET    .../users
	EndpointResetEmail        Endpoint = "reset_email"         // PATCH  .../users/{userId}/reset_email
	EndpointRevokeSessions    Endpoint = "revoke_sessions"     // PUT    .../users/{userId}/logout
	EndpointVerifyToken       Endpoint = "verify_token"        // POST   .../users/verify_token
	EndpointAdminProfile      Endpoint = "admin_profile"       // GET    /api/admin/v3.0/auth/profile
	EndpointSendConfirmation  Endpoint = "send_confirmation"   // POST   .../user_registrations/by_email/{email}/send_confirm
	EndpointConfirmPending    Endpoint = "confirm_pending"     // POST   .../user_registrations/by_email/{email}/confirm
	EndpointRerunConfirmation Endpoint = "rerun_confirmation"  // POST   .../user_registrations/by_email/{email}/run_confirm
	EndpointCreateAPIKey      Endpoint = "create_api_key"      // POST   .../api_keys
	EndpointListAPIKeys       Endpoint = "list_api_keys"       // GET    .../api_keys
	EndpointGetAPIKey         Endpoint = "get_api_key"         // GET    .../api_keys/{apiKeyId}
	EndpointDeleteAPIKey      Endpoint = "delete_api_key"      // DELETE .../api_keys/{apiKeyId}
	EndpointEnableAPIKey      Endpoint = "enable_api_key"      // PUT    .../api_keys/{apiKeyId}/enable
	EndpointDisableAPIKey     Endpoint = "disable_api_key"     // PUT    .../api_keys/{apiKeyId}/disable

	EndpointLocation      Endpoint = "location"       // GET    /api/client/v2.0/app/{clientAppId}/location
	EndpointClientLogin   Endpoint = "client_login"   // POST   {clientApp}/auth/providers/local-userpass/login
	EndpointAnonLogin     Endpoint = "anon_login"     // POST   {clientApp}/auth/providers/anon-user/login
	EndpointAPIKeyLogin   Endpoint = "api_key_login"  // POST   {clientApp}/auth/providers/api-key/login
	EndpointRegister      Endpoint = "register"       // POST   {clientApp}/auth/providers/local-userpass/register
	EndpointConfirm       Endpoint = "confirm"        // POST   {clientApp}/auth/providers/local-userpass/confirm
	EndpointConfirmSend   Endpoint = "confirm_send"   // POST   {clientApp}/auth/providers/local-userpass/confirm/send
	EndpointConfirmCall   Endpoint = "confirm_call"   // POST   {clientApp}/auth/providers/local-userpass/confirm/call
	EndpointReset         Endpoint = "reset"          // POST   {clientApp}/auth/providers/local-userpass/reset
	EndpointResetSend     Endpoint = "reset_send"     // POST   {clientApp}/auth/providers/local-userpass/reset/send
	EndpointResetCall     Endpoint = "reset_call"     // POST   {clientApp}/auth/providers/local-userpass/reset/call
	EndpointClientRefresh Endpoint = "client_refresh" // POST   /api/client/v2.0/auth/session
	EndpointClientLogout  Endpoint = "client_logout"  // DELETE /api/client/v2.0/auth/session
	EndpointProfile       Endpoint = "profile"        // GET    /api/client/v2.0/auth/profile
	EndpointDeleteSelf    Endpoint = "delete_self"    // DELETE /api/client/v2.0/auth/delete
)

// allEndpoints lists every Endpoint; it sizes the call counters.
var allEndpoints = [...]Endpoint{
	EndpointAdminLogin, EndpointAdminRefresh, EndpointAdminLogout,
	EndpointCreateUser, EndpointDeletePendingUser, EndpointDeleteUser,
	EndpointDisableUser, EndpointEnableUser, EndpointGetUser,
	EndpointListDevices, EndpointListPendingUsers, EndpointListUsers,
	EndpointResetEmail, EndpointRevokeSessions, EndpointVerifyToken,
	EndpointAdminProfile, EndpointSendConfirmation, EndpointConfirmPending,
	EndpointRerunConfirmation, EndpointCreateAPIKey, EndpointListAPIKeys,
	EndpointGetAPIKey, EndpointDeleteAPIKey, EndpointEnableAPIKey, EndpointDisableAPIKey,
	EndpointLocation, EndpointClientLogin, EndpointAnonLogin, EndpointAPIKeyLogin,
	EndpointRegister, EndpointConfirm, EndpointConfirmSend, EndpointConfirmCall,
	EndpointReset, EndpointResetSend, EndpointResetCall,
	EndpointClientRefresh, EndpointClientLogout, EndpointProfile, EndpointDeleteSelf,
}

const (
	adminPrefix  = "/api/admin/v3.0"
	clientPrefix = "/api/client/v2.0"
	appPrefix    = adminPrefix + "/groups/{groupId}/apps/{appId}"
	clientApp    = clientPrefix + "/app/{clientAppId}"
	userpass     = clientApp + "/auth/providers/local-userpass"
)

// route binds an endpoint to its ServeMux pattern and handler.
type route struct {
	pattern string
	e       Endpoint
	admin   bool // an Admin API call: subject to latency
	h       handlerFunc
}

// routes is the whole API surface: the Admin API, then the client API.
var routes = []route{
	{"POST " + adminPrefix + "/auth/providers/mongodb-cloud/login", EndpointAdminLogin, true, (*Server).handleAdminLogin},
	{"POST " + adminPrefix + "/auth/session", EndpointAdminRefresh, true, (*Server).handleAdminRefresh},
	{"DELETE " + adminPrefix + "/auth/session", EndpointAdminLogout, true, (*Server).handleAdminLogout},

	{"POST " + appPrefix + "/users", EndpointCreateUser, true, withAdmin((*Server).handleCreateUser)},
	{"DELETE " + appPrefix + "/user_registrations/by_email/{email}", EndpointDeletePendingUser, true, withAdmin((*Server).handleDeletePendingUser)},
	{"DELETE " + appPrefix + "/users/{userId}", EndpointDeleteUser, true, withAdmin((*Server).handleDeleteUser)},
	{"PUT " + appPrefix + "/users/{userId}/disable", EndpointDisableUser, true, withAdmin((*Server).handleDisableUser)},
	{"PUT " + appPrefix + "/users/{userId}/enable", EndpointEnableUser, true, withAdmin((*Server).handleEnableUser)},
	{"GET " + appPrefix + "/users/{userId}", EndpointGetUser, true, withAdmin((*Server).handleGetUser)},
	{"GET " + appPrefix + "/users/{userId}/devices", EndpointListDevices, true, withAdmin((*Server).handleListDevices)},
	{"GET " + appPrefix + "/user_registrations/pending_users", EndpointListPendingUsers, true, withAdmin((*Server).handleListPendingUsers)},
	{"GET " + appPrefix + "/users", EndpointListUsers, true, withAdmin((*Server).handleListUsers)},
	{"PATCH " + appPrefix + "/users/{userId}/reset_email", EndpointResetEmail, true, withAdmin((*Server).handleResetEmail)},
	{"PUT " + appPrefix + "/users/{userId}/logout", EndpointRevokeSessions, true, withAdmin((*Server).handleRevokeSessions)},
	{"POST " + appPrefix + "/users/verify_token", EndpointVerifyToken, true, withAdmin((*Server).handleVerifyToken)},

	{"GET " + adminPrefix + "/auth/profile", EndpointAdminProfile, true, (*Server).handleAdminProfile},
	{"POST " + appPrefix + "/user_registrations/by_email/{email}/send_confirm", EndpointSendConfirmation, true, withAdmin((*Server).handleSendConfirmation)},
	{"POST " + appPrefix + "/user_registrations/by_email/{email}/confirm", EndpointConfirmPending, true, withAdmin((*Server).handleConfirmPendingUser)},
	{"POST " + appPrefix + "/user_registrations/by_email/{email}/run_confirm", EndpointRerunConfirmation, true, withAdmin((*Server).handleRerunConfirmation)},
	{"POST " + appPrefix + "/api_keys", EndpointCreateAPIKey, true, withAdmin((*Server).handleCreateAPIKey)},
	{"GET " + appPrefix + "/api_keys", EndpointListAPIKeys, true, withAdmin((*Server).handleListAPIKeys)},
	{"GET " + appPrefix + "/api_keys/{apiKeyId}", EndpointGetAPIKey, true, withAdmin((*Server).handleGetAPIKey)},
	{"DELETE " + appPrefix + "/api_keys/{apiKeyId}", EndpointDeleteAPIKey, true, withAdmin((*Server).handleDeleteAPIKey)},
	{"PUT " + appPrefix + "/api_keys/{apiKeyId}/enable", EndpointEnableAPIKey, true, withAdmin((*Server).handleEnableAPIKey)},
	{"PUT " + appPrefix + "/api_keys/{apiKeyId}/disable", EndpointDisableAPIKey, true, withAdmin((*Server).handleDisableAPIKey)},

	{"GET " + clientApp + "/location", EndpointLocation, false, withClientApp((*Server).handleLocation)},
	{"POST " + userpass + "/login", EndpointClientLogin, false, withClientApp((*Server).handleClientLogin)},
	{"POST " + clientApp + "/auth/providers/anon-user/login", EndpointAnonLogin, false, withClientApp((*Server).handleAnonLogin)},
	{"POST " + clientApp + "/auth/providers/api-key/login", EndpointAPIKeyLogin, false, withClientApp((*Server).handleAPIKeyLogin)},
	{"POST " + userpass + "/register", EndpointRegister, false, withClientApp((*Server).handleRegister)},
	{"POST " + userpass + "/confirm", EndpointConfirm, false, withClientApp((*Server).handleConfirm)},
	{"POST " + userpass + "/confirm/send", EndpointConfirmSend, false, withClientApp((*Server).handleConfirmSend)},
	{"POST " + userpass + "/confirm/call", EndpointConfirmCall, false, withClientApp((*Server).handleConfirmCall)},
	{"POST " + userpass + "/reset", EndpointReset, false, withClientApp((*Server).handleReset)},
	{"POST " + userpass + "/reset/send", EndpointResetSend, false, withClientApp((*Server).handleResetSend)},
	{"POST " + userpass + "/reset/call", EndpointResetCall, false, withClientApp((*Server).handleResetCall)},
	{"POST " + clientPrefix + "/auth/session", EndpointClientRefresh, false, (*Server).handleClientRefresh},
	{"DELETE " + clientPrefix + "/auth/session", EndpointClientLogout, false, (*Server).handleClientLogout},
	{"GET " + clientPrefix + "/auth/profile", EndpointProfile, false, (*Server).handleProfile},
	{"DELETE " + clientPrefix + "/auth/delete", EndpointDeleteSelf, false, (*Server).handleDeleteSelf},
}
