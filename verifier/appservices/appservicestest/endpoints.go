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
	EndpointClientLogin       Endpoint = "client_login"        // POST   /api/client/v2.0/app/{clientAppId}/auth/providers/local-userpass/login
	EndpointClientRefresh     Endpoint = "client_refresh"      // POST   /api/client/v2.0/auth/session
	EndpointClientLogout      Endpoint = "client_logout"       // DELETE /api/client/v2.0/auth/session
)

// allEndpoints lists every Endpoint; it sizes the call counters.
var allEndpoints = [...]Endpoint{
	EndpointAdminLogin, EndpointAdminRefresh, EndpointAdminLogout,
	EndpointCreateUser, EndpointDeletePendingUser, EndpointDeleteUser,
	EndpointDisableUser, EndpointEnableUser, EndpointGetUser,
	EndpointListDevices, EndpointListPendingUsers, EndpointListUsers,
	EndpointResetEmail, EndpointRevokeSessions, EndpointVerifyToken,
	EndpointClientLogin, EndpointClientRefresh, EndpointClientLogout,
}

const (
	adminPrefix  = "/api/admin/v3.0"
	clientPrefix = "/api/client/v2.0"
	appPrefix    = adminPrefix + "/groups/{groupId}/apps/{appId}"
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

	{"POST " + clientPrefix + "/app/{clientAppId}/auth/providers/local-userpass/login", EndpointClientLogin, false, (*Server).handleClientLogin},
	{"POST " + clientPrefix + "/auth/session", EndpointClientRefresh, false, (*Server).handleClientRefresh},
	{"DELETE " + clientPrefix + "/auth/session", EndpointClientLogout, false, (*Server).handleClientLogout},
}
