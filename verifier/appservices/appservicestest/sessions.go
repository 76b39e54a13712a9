package appservicestest

import "slices"

// defaultDeviceID is the device id of a login that names no device; SDKs
// treat it as "none" and never send it back.
const defaultDeviceID = "000000000000000000000000"

// openSessionLocked records a device and a session for u and signs its
// tokens; s.mu must be held for writing.
//
// dev.ID, when it names one of u's devices, reuses that device: realm-web
// keeps the device_id of its first login and sends it back as
// options.device.deviceId on every later one, which only makes sense if the
// service then keeps one device record per device. The service's own rule is
// not published; SDKs that send no deviceId (realm-core's) get a new device
// on every login, which realm-dotnet#2430 reports the service did "by
// design". An id that is not one of u's devices gets a new device too.
func (s *Server) openSessionLocked(u *user, dev device) Session {
	now := s.Now()
	if i := slices.IndexFunc(u.devices, func(d device) bool { return d.ID == dev.ID }); dev.ID != "" && i >= 0 {
		u.devices[i] = dev
	} else {
		dev.ID = s.ids.next(now)
		u.devices = append(u.devices, dev)
	}
	sess := &session{id: s.ids.next(now), userID: u.id, deviceID: dev.ID}
	u.sessions = append(u.sessions, sess.id)
	u.lastAuth = now
	s.st.sessions[sess.id] = sess
	return Session{
		AccessToken:  signWith(s.clientKey, s.accessClaims(now, sess, u.customData)),
		RefreshToken: signWith(s.clientKey, s.refreshClaims(now, u.id, sess.id, dev.ID)),
		UserID:       u.id,
		DeviceID:     dev.ID,
	}
}

// endSessionLocked ends one session of u; s.mu must be held.
func (s *Server) endSessionLocked(u *user, id string) {
	delete(s.st.sessions, id)
	if i := slices.Index(u.sessions, id); i >= 0 {
		u.sessions = slices.Delete(u.sessions, i, i+1)
	}
}

// revokeLocked ends every session of u: refresh fails from now on, and in
// strict mode their access tokens stop verifying; s.mu must be held.
func (s *Server) revokeLocked(u *user) {
	for _, id := range u.sessions {
		delete(s.st.sessions, id)
	}
	u.sessions = nil
	u.sessionsValidSince = s.Now()
}

// deleteUserLocked removes u, its sessions, its pending password resets and,
// for a server user, its API key; s.mu must be held.
func (s *Server) deleteUserLocked(u *user) {
	s.revokeLocked(u)
	delete(s.st.users, u.id)
	if u.email != "" {
		delete(s.st.byEmail, normEmail(u.email))
	}
	if i, ok := slices.BinarySearch(s.st.order, u.id); ok {
		s.st.order = slices.Delete(s.st.order, i, i+1)
	}
	for id, r := range s.st.resets {
		if r.userID == u.id {
			delete(s.st.resets, id)
		}
	}
	s.st.apiKeys = slices.DeleteFunc(s.st.apiKeys, func(k *apiKey) bool { return k.userID == u.id })
}
