package appservicestest

import "net/http"

// The Admin API's pending-user operations beyond list and delete, on
// /user_registrations/by_email/{email}: send_confirm (200), confirm (204)
// and run_confirm (202; 400 for a confirmed user; 404 for an unknown one),
// the statuses of the OpenAPI spec. The spec names no error for the first
// two; the emulator answers them as run_confirm does.

// handleSendConfirmation sends the pending user a new confirmation email.
// Like .../confirm/send on the client API it needs ConfirmEmail.
func (s *Server) handleSendConfirmation(w http.ResponseWriter, r *http.Request) {
	if s.cfg.confirmation != ConfirmEmail {
		badRequest(w, "the email/password provider is not configured to send confirmation emails")
		return
	}
	s.mu.Lock()
	p, ok := s.pendingByEmailLocked(w, r.PathValue("email"))
	s.mu.Unlock()
	if ok && s.runConfirmation(w, r, p) {
		w.WriteHeader(http.StatusOK)
	}
}

// handleConfirmPendingUser confirms the pending user without a token.
func (s *Server) handleConfirmPendingUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pendingByEmailLocked(w, r.PathValue("email"))
	if !ok {
		return
	}
	s.confirmLocked(p)
	writeNoContent(w)
}

// handleRerunConfirmation runs the pending user's confirmation workflow
// again, whichever the mode: ConfirmAuto confirms, ConfirmEmail sends an
// email, ConfirmFunction runs the function (a "fail" drops the
// registration, and the answer is then 400).
func (s *Server) handleRerunConfirmation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.pendingByEmailLocked(w, r.PathValue("email"))
	s.mu.Unlock()
	if ok && s.runConfirmation(w, r, p) {
		w.WriteHeader(http.StatusAccepted)
	}
}
