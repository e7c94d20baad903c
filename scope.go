package lode

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
