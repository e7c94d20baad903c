package auth

import (
	"strings"

	"github.com/lode-ml/lode"
)

// Permission is a level of access to a resource, as MLflow's basic-auth
// app names them. Each level includes the capabilities of those below it
// (READ < USE < EDIT < MANAGE); NO_PERMISSIONS grants nothing and DENY
// grants nothing and overrides every grant it meets.
type Permission string

// The permission levels.
const (
	Read          Permission = "READ"
	Use           Permission = "USE"
	Edit          Permission = "EDIT"
	Manage        Permission = "MANAGE"
	NoPermissions Permission = "NO_PERMISSIONS"
	Deny          Permission = "DENY"
)

// Permissions lists every level, in MLflow's order.
var Permissions = []Permission{Read, Use, Edit, Manage, NoPermissions, Deny}

// rank orders levels: DENY below everything, so it never wins a max.
func (p Permission) rank() int {
	switch p {
	case Read:
		return 1
	case Use:
		return 2
	case Edit:
		return 3
	case Manage:
		return 4
	case Deny:
		return -1
	}
	return 0
}

// Allows reports whether p grants the capability need.
func (p Permission) Allows(need Need) bool {
	switch need {
	case NeedRead:
		return p.rank() >= Read.rank()
	case NeedUse:
		return p.rank() >= Use.rank()
	case NeedUpdate:
		return p.rank() >= Edit.rank()
	case NeedDelete, NeedManage:
		return p == Manage
	}
	return false
}

// Valid reports whether p is one of the levels.
func (p Permission) Valid() bool { return p.rank() != 0 || p == NoPermissions }

// ParsePermission checks a permission name from a request.
func ParsePermission(s string) (Permission, error) {
	p := Permission(s)
	if !p.Valid() {
		return "", lode.Errorf(lode.EInvalid, "Invalid permission '%s'. Valid permissions are: %s", s, quoted(Permissions))
	}
	return p, nil
}

// Max returns the higher of two levels; DENY loses to every other level
// here, so callers check for DENY before folding with Max.
func Max(a, b Permission) Permission {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Need is the capability a request needs of a resource.
type Need uint8

// The capabilities, as MLflow's Permission record names them (can_read,
// can_use, can_update, can_delete, can_manage).
const (
	NeedRead Need = iota + 1
	NeedUse
	NeedUpdate
	NeedDelete
	NeedManage
)

func (n Need) String() string {
	switch n {
	case NeedRead:
		return "read"
	case NeedUse:
		return "use"
	case NeedUpdate:
		return "update"
	case NeedDelete:
		return "delete"
	case NeedManage:
		return "manage"
	}
	return "?"
}

// ResourceType names a kind of resource permissions are granted on.
type ResourceType string

// The resource types. Experiments are named by id, registered models and
// deployments by name. Runs, logged models and artifacts take their
// experiment's permission, model versions their registered model's, jobs
// their experiment's. A workspace grant ("*" only) with MANAGE makes its
// holder a manager of everything; with USE it grants nothing more (Lode
// has one workspace, which every user may use).
const (
	Experiment      ResourceType = "experiment"
	RegisteredModel ResourceType = "registered_model"
	Deployment      ResourceType = "deployment"
	Workspace       ResourceType = "workspace"
)

// ResourceTypes lists the types a grant may name.
var ResourceTypes = []ResourceType{Deployment, Experiment, RegisteredModel, Workspace}

// ParseResourceType checks a resource type from a request.
func ParseResourceType(s string) (ResourceType, error) {
	for _, t := range ResourceTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", lode.Errorf(lode.EInvalid, "Invalid resource type '%s'. Valid resource types are: %s", s, quoted(ResourceTypes))
}

// CheckGrant checks that p may be granted on resources of type t matching
// pattern, as MLflow 3 does: a workspace grant is USE or MANAGE on "*";
// a resource grant is READ, USE, EDIT, MANAGE or DENY.
func CheckGrant(t ResourceType, pattern string, p Permission) error {
	if !p.Valid() {
		return lode.Errorf(lode.EInvalid, "Invalid permission '%s'. Valid permissions are: %s", p, quoted(Permissions))
	}
	if t == Workspace {
		if p != Use && p != Manage {
			return lode.Errorf(lode.EInvalid, "Invalid permission '%s' for resource_type='workspace'. Workspace-wide grants accept only: ('MANAGE', 'USE').", p)
		}
		if pattern != Wildcard {
			return lode.Errorf(lode.EInvalid, "Invalid resource_pattern '%s' for resource_type='workspace'. This resource type supports only wildcard ('*') grants.", pattern)
		}
		return nil
	}
	if p == NoPermissions {
		return lode.Errorf(lode.EInvalid, "Invalid permission '%s' for resource_type='%s'. Resource-level grants accept only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE').", p, t)
	}
	if pattern == "" {
		return lode.Invalid(lode.MsgMissing, "resource_pattern")
	}
	return nil
}

func quoted[T ~string](vs []T) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = "'" + string(v) + "'"
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// Wildcard is the pattern of a grant on every resource of its type.
const Wildcard = "*"

// Resolve folds a user's grants into their permission on one resource, as
// MLflow 3 does: a workspace MANAGE grant gives MANAGE on everything;
// else any DENY on the resource (or on "*" of its type) wins; else the
// highest level granted, never less than def, the server's default; a
// NO_PERMISSIONS grant (MLflow 2's) alone gives nothing; and without any
// grant, def.
func Resolve(grants []RolePermission, t ResourceType, id string, def Permission) Permission {
	best, found := NoPermissions, false
	denied := false
	for _, g := range grants {
		if g.Type == Workspace && g.Permission == Manage {
			return Manage
		}
		if g.Type != t || (g.Pattern != id && g.Pattern != Wildcard) {
			continue
		}
		if g.Permission == Deny {
			denied = true
			continue
		}
		best, found = Max(best, g.Permission), true
	}
	switch {
	case denied:
		return Deny
	case !found:
		return def
	case best == NoPermissions:
		return NoPermissions
	}
	return Max(best, def)
}

// ResolveUnnamed is the permission on a resource of type t that no grant
// names (a resource that does not exist, or a path outside every
// experiment): what the wildcard grants and def give, as Resolve would.
// It compares no name, so no resource, whatever it is called, stands in.
func ResolveUnnamed(grants []RolePermission, t ResourceType, def Permission) Permission {
	var wild []RolePermission
	for _, g := range grants {
		if g.Type == Workspace || (g.Type == t && g.Pattern == Wildcard) {
			wild = append(wild, g)
		}
	}
	return Resolve(wild, t, Wildcard, def)
}
