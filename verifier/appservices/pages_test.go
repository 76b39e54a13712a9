package appservices

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// userIDs returns n ascending ObjectId-like ids.
func userIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("63ed%020x", i+1)
	}
	return ids
}

// servePages lists ids the way the Admin API pages them: after (exclusive),
// sort=_id&desc=true, at most 50 a page. It counts the pages served. fail,
// when not zero, is answered with status 500 for the page with that number.
func servePages(t *testing.T, ids []string, item func(id string) any, fail int) (http.HandlerFunc, *atomic.Int64) {
	var served atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		if int(n) == fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		q := r.URL.Query()
		list := slices.Clone(ids)
		if q.Get("desc") == "true" {
			assert.Equal(t, "_id", q.Get("sort"))
			slices.Reverse(list)
		}
		if after := q.Get("after"); after != "" {
			i := slices.Index(list, after)
			require.GreaterOrEqual(t, i, 0, "unknown after %q", after)
			list = list[i+1:]
		}
		list = list[:min(len(list), pageSize)]
		page := make([]any, len(list))
		for i, id := range list {
			page[i] = item(id)
		}
		writeJSON(w, http.StatusOK, page)
	}, &served
}

func userItem(id string) any {
	return map[string]any{"_id": id, "type": "normal", "creation_date": 1676509482}
}
func pendingItem(id string) any { return map[string]any{"_id": id, "login_ids": []any{}} }

func TestAllUsers(t *testing.T) {
	ids := userIDs(120)
	tests := []struct {
		name  string
		total int
		opts  ListUsersOptions
		stop  int // break after this many; 0: never
		fail  int // page number answered 500; 0: none
		want  []string
		pages int64
	}{
		{name: "ascending", total: 120, want: ids, pages: 3},
		{name: "descending", total: 120, opts: ListUsersOptions{Desc: true}, want: reversed(ids), pages: 3},
		{name: "after, ascending", total: 120, opts: ListUsersOptions{After: ids[9]}, want: ids[10:], pages: 3},
		{name: "after, descending", total: 120, opts: ListUsersOptions{After: ids[109], Desc: true},
			want: reversed(ids[:109]), pages: 3},
		{name: "exactly two full pages", total: 100, want: ids[:100], pages: 3},
		{name: "empty", total: 0, want: nil, pages: 1},
		{name: "early break fetches no more", total: 120, stop: 10, want: ids[:10], pages: 1},
		{name: "break at a page's end", total: 120, stop: 50, want: ids[:50], pages: 1},
		{name: "error on the second page", total: 120, fail: 2, want: ids[:50], pages: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			h, served := servePages(t, ids[:tt.total], userItem, tt.fail)
			f.handle(http.MethodGet, "/users", h)
			c := newTestClient(t, f, newFakeClock())

			var got []string
			var errs []error
			for u, err := range c.AllUsers(testCtx(t), tt.opts) {
				if err != nil {
					errs = append(errs, err)
					assert.Empty(t, u.ID, "zero value with the error")
					continue // the iterator must stop by itself
				}
				got = append(got, u.ID)
				assert.False(t, u.CreationDate.IsZero())
				if len(got) == tt.stop {
					break
				}
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.pages, served.Load())
			if tt.fail != 0 {
				require.Len(t, errs, 1)
				assert.ErrorIs(t, errs[0], verifier.ErrUnavailable)
			} else {
				assert.Empty(t, errs)
			}
		})
	}
}

func TestAllPendingUsers(t *testing.T) {
	ids := userIDs(120)
	f := newFakeAPI(t)
	h, served := servePages(t, ids, pendingItem, 0)
	f.handle(http.MethodGet, "/user_registrations/pending_users", h)
	c := newTestClient(t, f, newFakeClock())

	var got []string
	for p, err := range c.AllPendingUsers(testCtx(t)) {
		require.NoError(t, err)
		got = append(got, p.ID)
	}
	assert.Equal(t, ids, got)
	assert.EqualValues(t, 3, served.Load())
}

func TestAllUsersNoProgress(t *testing.T) {
	// A server that ignores "after" would page forever.
	f := newFakeAPI(t)
	ids := userIDs(50)
	var served atomic.Int64
	f.handle(http.MethodGet, "/users", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		h, _ := servePages(t, ids, userItem, 0)
		r.URL.RawQuery = "" // ignore after
		h(w, r)
	})
	c := newTestClient(t, f, newFakeClock())
	n := 0
	var last error
	for _, err := range c.AllUsers(testCtx(t), ListUsersOptions{}) {
		n++
		last = err
		require.Less(t, n, 1000, "runaway iterator")
	}
	assert.ErrorIs(t, last, verifier.ErrUnavailable)
	assert.EqualValues(t, 2, served.Load())
	assert.Equal(t, 101, n, "two pages, then the error")
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
