package appservices

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// pageSize is the most items the Admin API puts in one page of a list.
const pageSize = 50

// AllUsers iterates over every user, page after page, starting after
// opts.After (exclusive) and in the order opts.Desc selects. It asks for the
// next page, after the last id seen, until a page holds fewer than 50 users.
//
// On an error the iterator yields a zero UserRecord with the error, once, and
// stops. Breaking out of the loop stops it without fetching further pages.
//
//	for u, err := range c.AllUsers(ctx, appservices.ListUsersOptions{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(u.ID)
//	}
func (c *Client) AllUsers(ctx context.Context, opts ListUsersOptions) iter.Seq2[UserRecord, error] {
	return pages(opts.After, "list users",
		func(after string) ([]UserRecord, error) {
			page := opts
			page.After = after
			return c.ListUsers(ctx, page)
		},
		func(u UserRecord) string { return u.ID })
}

// AllPendingUsers iterates over every pending user, page after page, like
// AllUsers.
func (c *Client) AllPendingUsers(ctx context.Context) iter.Seq2[PendingUser, error] {
	return pages("", "list pending users",
		func(after string) ([]PendingUser, error) { return c.ListPendingUsers(ctx, after) },
		func(p PendingUser) string { return p.ID })
}

// pages walks the pages fetch returns, continuing after the id of each full
// page's last item. A full page whose last id is missing or equal to the
// previous cursor would loop forever; it ends the walk with an error instead.
func pages[T any](after, op string, fetch func(after string) ([]T, error), id func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for {
			page, err := fetch(after)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, item := range page {
				if !yield(item, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
			next := id(page[len(page)-1])
			if next == "" || next == after {
				yield(zero, &unavailableError{op: op, err: fmt.Errorf("%w (cursor %q)", errNoProgress, after)})
				return
			}
			after = next
		}
	}
}

// errNoProgress reports a full page that gives no new cursor to continue from.
var errNoProgress = errors.New("full page without a new last _id")
