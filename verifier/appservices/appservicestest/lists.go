package appservicestest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// handleListPendingUsers answers one page of pending users in _id order,
// starting after the exclusive cursor "after".
func (s *Server) handleListPendingUsers(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("after")
	if after != "" && !validID(after) {
		badRequest(w, "invalid after: expected an ObjectId")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(s.st.pending, after, func(p *pendingUser, id string) int {
		return compareStrings(p.id, id)
	})
	if after != "" && i < len(s.st.pending) && s.st.pending[i].id == after {
		i++
	}
	page := make([]pendingJSON, 0, pageSize)
	for _, p := range s.st.pending[i:min(i+pageSize, len(s.st.pending))] {
		page = append(page, pendingJSON{
			ID: p.id, UserID: "", DomainID: DefaultDomainID,
			LoginIDs: []loginIDJSON{{IDType: "email", ID: p.email}},
		})
	}
	writeJSON(w, http.StatusOK, page)
}

// handleListUsers answers one page of users ordered by _id (creation order),
// ascending or with desc=true descending, after the exclusive cursor "after".
// sort accepts only "_id". status (enabled or disabled) and provider_types
// (a comma-separated list: users with an identity of one of them) filter the
// users before they are paged: realm-cli sends both, and the service applies
// them, though the OpenAPI spec lists neither.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if v := q.Get("sort"); v != "" && v != "_id" {
		badRequest(w, "invalid sort: only _id is supported")
		return
	}
	desc := false
	if v := q.Get("desc"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			badRequest(w, "invalid desc: expected a boolean")
			return
		}
		desc = b
	}
	after := q.Get("after")
	if after != "" && !validID(after) {
		badRequest(w, "invalid after: expected an ObjectId")
		return
	}
	keep, ok := userFilter(q.Get("status"), q.Get("provider_types"))
	if !ok {
		badRequest(w, "invalid status: expected enabled or disabled")
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	order := s.st.order
	page := make([]userJSON, 0, pageSize)
	add := func(id string) {
		if u := s.st.users[id]; keep(u) {
			page = append(page, s.userJSONLocked(u))
		}
	}
	if !desc {
		i, found := slices.BinarySearch(order, after)
		if found {
			i++
		}
		for ; i < len(order) && len(page) < pageSize; i++ {
			add(order[i])
		}
	} else {
		j := len(order)
		if after != "" {
			j, _ = slices.BinarySearch(order, after) // ids strictly below after
		}
		for k := j - 1; k >= 0 && len(page) < pageSize; k-- {
			add(order[k])
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// userFilter returns the test ListUsers' status and provider_types ask
// for; ok is false for a status other than "", enabled or disabled.
func userFilter(status, providerTypes string) (keep func(*user) bool, ok bool) {
	var providers []string
	for _, p := range strings.Split(providerTypes, ",") {
		if p = strings.TrimSpace(p); p != "" {
			providers = append(providers, p)
		}
	}
	switch status {
	case "", "enabled", "disabled":
	default:
		return nil, false
	}
	return func(u *user) bool {
		switch {
		case status == "enabled" && u.disabled, status == "disabled" && !u.disabled:
			return false
		}
		return len(providers) == 0 || slices.Contains(providers, u.provider)
	}, true
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
