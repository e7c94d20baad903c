package lode

import "context"

// Scope restricts a search to the resources its caller may read, named by
// id (experiments) or name (registered models, deployments): when Only is
// set, to those in IDs; otherwise to every one but those in Except. The
// zero value restricts nothing. Stores apply it in their queries, so that
// pages are full and page tokens stay right.
type Scope struct {
	Only   bool
	IDs    []string
	Except []string
}

// All reports whether the scope holds every resource.
func (sc Scope) All() bool { return !sc.Only && len(sc.Except) == 0 }

// Has reports whether the scope holds id.
func (sc Scope) Has(id string) bool {
	list := sc.Except
	if sc.Only {
		list = sc.IDs
	}
	for _, x := range list {
		if x == id {
			return sc.Only
		}
	}
	return !sc.Only
}

// ReadableFunc returns the part of a kind of resource ("experiment",
// "registered_model", "deployment") that the caller ctx carries may read.
// Domain services call it for every search, so that each listing, from the
// API or the UI, shows only what its caller may see; a nil one restricts
// nothing.
type ReadableFunc func(ctx context.Context, kind string) (Scope, error)

// Readable calls f, or restricts nothing when f is nil.
func (f ReadableFunc) Readable(ctx context.Context, kind string) (Scope, error) {
	if f == nil {
		return Scope{}, nil
	}
	return f(ctx, kind)
}

// Filter returns the ids of list that the scope holds.
func (sc Scope) Filter(list []string) []string {
	if sc.All() {
		return list
	}
	out := make([]string, 0, len(list))
	for _, id := range list {
		if sc.Has(id) {
			out = append(out, id)
		}
	}
	return out
}
