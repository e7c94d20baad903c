// Package auth is who may do what in Lode: users with passwords, API
// tokens, roles that grant permissions on resources, and the rules that
// fold them into one decision, as MLflow's basic-auth app defines them
// (READ, USE, EDIT, MANAGE, DENY, NO_PERMISSIONS on experiments,
// registered models and Lode's deployments; admins may do anything; the
// creator of a resource manages it; a server-wide default applies where
// nothing is granted). It holds no transport or database code: the HTTP
// side is in gate and mlflowapi, the tables in internal/sqlstore.
//
// Grants live on roles, as in MLflow 3: a user's own grants are the
// permissions of a role named __user_<id>__ that only they hold, so the
// per-user APIs of MLflow 2 and 3 and the role APIs see the same rows.
// Lode has no workspaces; roles name one all the same (MLflow's clients
// send it) and only those of the workspace "default" grant anything.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// DefaultWorkspace is the only workspace whose roles grant permissions.
const DefaultWorkspace = "default"

// User is an account.
type User struct {
	ID       int64
	Username string
	// PasswordHash is the PHC string of the password's hash; it never
	// leaves the server.
	PasswordHash string
	IsAdmin      bool
	CreatedMs    int64
}

// Role is a named set of permissions that users are assigned.
type Role struct {
	ID          int64
	Workspace   string
	Name        string
	Description *string
	Permissions []RolePermission
}

// RolePermission grants a permission on one resource (Pattern is its id or
// name) or on every resource of a type (Pattern "*").
type RolePermission struct {
	ID         int64
	RoleID     int64
	Type       ResourceType
	Pattern    string
	Permission Permission
}

// Assignment gives a user a role.
type Assignment struct {
	ID     int64
	UserID int64
	RoleID int64
}

// TokenKind says what a token was made for.
type TokenKind string

// The kinds of tokens: one a user created for a client, one the server
// made for a job to call back with its submitter's rights, and a web UI
// session.
const (
	TokenAPI     TokenKind = "api"
	TokenJob     TokenKind = "job"
	TokenSession TokenKind = "session"
)

// Token is a bearer credential. Only its hash is stored; the secret is
// shown once, when it is made.
type Token struct {
	ID        string
	UserID    int64
	Name      string
	Kind      TokenKind
	Hash      string
	CreatedMs int64
	// ExpiresMs is when it stops working (0: never).
	ExpiresMs  int64
	LastUsedMs int64
	// JobID is the job a job token was made for.
	JobID string
	// Username is the name of UserID, as the store reads it with the token
	// (CreateToken ignores it).
	Username string
}

// Store keeps users, roles and tokens. Implementations (internal/sqlstore
// for SQLite and PostgreSQL) pass the suite in package authtest. Methods
// return *lode.Error values: ENotFound for what does not exist, EExists
// for a duplicate.
type Store interface {
	// CreateUser stores u and returns it with its new ID.
	CreateUser(ctx context.Context, u User) (*User, error)
	GetUser(ctx context.Context, username string) (*User, error)
	GetUserByID(ctx context.Context, id int64) (*User, error)
	// ListUsers returns every user by username.
	ListUsers(ctx context.Context) ([]*User, error)
	CountUsers(ctx context.Context) (int, error)
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
	SetAdmin(ctx context.Context, userID int64, admin bool) error
	// DeleteUser deletes a user with their roles' assignments, their own
	// (__user_<id>__) role and their tokens.
	DeleteUser(ctx context.Context, userID int64) error

	// CreateRole stores r (without permissions) and returns it with its ID.
	CreateRole(ctx context.Context, r Role) (*Role, error)
	// GetRole returns a role with its permissions.
	GetRole(ctx context.Context, id int64) (*Role, error)
	GetRoleByName(ctx context.Context, workspace, name string) (*Role, error)
	// ListRoles returns the roles of the workspaces given (all of them for
	// none) with their permissions, by workspace, then name.
	ListRoles(ctx context.Context, workspaces []string) ([]*Role, error)
	// UpdateRole changes a role's name or description (nil: unchanged).
	UpdateRole(ctx context.Context, id int64, name, description *string) (*Role, error)
	// DeleteRole deletes a role with its permissions and assignments.
	DeleteRole(ctx context.Context, id int64) error

	AddRolePermission(ctx context.Context, p RolePermission) (*RolePermission, error)
	GetRolePermission(ctx context.Context, id int64) (*RolePermission, error)
	// FindRolePermission returns the permission of a role on a pattern.
	FindRolePermission(ctx context.Context, roleID int64, t ResourceType, pattern string) (*RolePermission, error)
	UpdateRolePermission(ctx context.Context, id int64, p Permission) (*RolePermission, error)
	RemoveRolePermission(ctx context.Context, id int64) error

	AssignRole(ctx context.Context, userID, roleID int64) (*Assignment, error)
	UnassignRole(ctx context.Context, userID, roleID int64) error
	// ListUserRoles returns a user's roles with their permissions.
	ListUserRoles(ctx context.Context, userID int64) ([]*Role, error)
	ListRoleUsers(ctx context.Context, roleID int64) ([]*Assignment, error)
	// UserGrants returns the permissions of every role a user holds in a
	// workspace, their own role's included: what decides their access.
	UserGrants(ctx context.Context, userID int64, workspace string) ([]RolePermission, error)
	// RenameGrants moves users' own grants on a resource to its new name;
	// DeleteGrants removes them (a registered model renamed or deleted).
	// Roles that are not a user's own are left as their admins made them.
	RenameGrants(ctx context.Context, t ResourceType, from, to string) error
	DeleteGrants(ctx context.Context, t ResourceType, id string) error

	CreateToken(ctx context.Context, t Token) error
	// GetToken finds a token by the hash of its secret.
	GetToken(ctx context.Context, hash string) (*Token, error)
	GetTokenByID(ctx context.Context, id string) (*Token, error)
	// ListTokens returns a user's tokens (every user's for userID 0) of
	// the kinds given (all for none), newest first.
	ListTokens(ctx context.Context, userID int64, kinds ...TokenKind) ([]*Token, error)
	DeleteToken(ctx context.Context, id string) error
	// DeleteJobTokens deletes the tokens made for a job.
	DeleteJobTokens(ctx context.Context, jobID string) error
	// DeleteExpiredTokens deletes tokens that expired before nowMs.
	DeleteExpiredTokens(ctx context.Context, nowMs int64) (int, error)
	TouchToken(ctx context.Context, id string, nowMs int64) error
}

// OwnRoleName is the name of the role that holds a user's own grants.
func OwnRoleName(userID int64) string { return fmt.Sprintf("__user_%d__", userID) }

// IsOwnRoleName reports whether name is reserved for users' own roles.
func IsOwnRoleName(name string) bool { return strings.HasPrefix(name, "__user_") }

// Identity is who a request comes from.
type Identity struct {
	// User is nil for an anonymous caller.
	User *User
	// Token is the token the caller presented, if any.
	Token *Token
	// Basic reports that the caller sent their password with this request
	// (HTTP Basic), which proves they know it.
	Basic bool
	// Open is set when the server runs without authentication: every
	// request may do everything.
	Open bool
}

// Anonymous reports whether nobody signed in (and the server checks).
func (id *Identity) Anonymous() bool { return id == nil || (!id.Open && id.User == nil) }

// Admin reports whether the caller may do anything.
func (id *Identity) Admin() bool {
	return id != nil && (id.Open || (id.User != nil && id.User.IsAdmin))
}

// Name is the caller's username ("" when anonymous or open).
func (id *Identity) Name() string {
	if id == nil || id.User == nil {
		return ""
	}
	return id.User.Username
}

// Job is the job a job token belongs to ("" for other callers).
func (id *Identity) Job() string {
	if id == nil || id.Token == nil || id.Token.Kind != TokenJob {
		return ""
	}
	return id.Token.JobID
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity ctx carries; without one, the caller
// is anonymous.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	if id == nil {
		return &Identity{}
	}
	return id
}

// OpenIdentity is the caller of a server that runs without authentication.
var OpenIdentity = &Identity{Open: true}

// SessionCookie is the name of the web UI's session cookie; its value is
// a session token's secret.
const SessionCookie = "lode_session"

// CSRFToken is the token a signed-in page sends with its changes (header
// X-CSRF-Token, or form field csrf_token): derived from the session's
// secret, so it needs no storage, and unknowable to another site.
func CSRFToken(sessionSecret string) string {
	m := hmac.New(sha256.New, []byte(sessionSecret))
	m.Write([]byte("lode csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
