package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/lode-ml/lode"
)

// DefaultCacheTTL is how long a server reuses what it read of a user
// (their verified password, a token, their grants) before reading it
// again. Changes made through this server apply at once; those made
// through another server sharing the database apply within this time.
const DefaultCacheTTL = 10 * time.Second

// maxHashing bounds the password hashes computed at once (each takes
// 19 MiB for ~30 ms): a burst of logins queues rather than eats memory.
const maxHashing = 4

// Service is who may do what: it signs users in, issues tokens, keeps
// roles and grants, and decides each request's access.
type Service struct {
	Store Store
	// Default is a user's permission on a resource nothing grants them
	// anything on; READ, as MLflow's, when empty.
	Default Permission
	// CacheTTL bounds how stale a cached credential or grant may be
	// (DefaultCacheTTL when 0; negative: no caching).
	CacheTTL time.Duration
	Logger   *slog.Logger
	Now      func() time.Time

	once    sync.Once
	key     [32]byte // keys the credentials cache
	hashing chan struct{}
	mu      sync.Mutex
	creds   map[[32]byte]cached[*User]
	tokens  map[string]cached[tokenUser]
	grants  map[int64]cached[[]RolePermission]
	fails   throttle
	// gen counts the changes that empty cache entries: a value read from
	// the store before a change is not cached after it (a revoke racing a
	// read must not be undone by the read).
	gen uint64
}

type cached[T any] struct {
	v       T
	expires time.Time
}

type tokenUser struct {
	token *Token
	user  *User
}

func (s *Service) init() {
	s.once.Do(func() {
		rand.Read(s.key[:])
		s.hashing = make(chan struct{}, maxHashing)
		s.creds = map[[32]byte]cached[*User]{}
		s.tokens = map[string]cached[tokenUser]{}
		s.grants = map[int64]cached[[]RolePermission]{}
	})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) ttl() time.Duration {
	if s.CacheTTL == 0 {
		return DefaultCacheTTL
	}
	return max(s.CacheTTL, 0)
}

// DefaultPermission is the server's default permission.
func (s *Service) DefaultPermission() Permission {
	if s.Default == "" {
		return Read
	}
	return s.Default
}

// maxCacheEntries bounds each cache; a full one is emptied.
const maxCacheEntries = 10000

// generation returns the cache generation, for putFrom.
func (s *Service) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// putFrom caches v under k unless a change came since gen was read.
func putFrom[K comparable, T any](s *Service, m map[K]cached[T], gen uint64, k K, v T, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen {
		put(m, k, v, exp)
	}
}

func put[K comparable, T any](m map[K]cached[T], k K, v T, exp time.Time) {
	if len(m) >= maxCacheEntries {
		clear(m)
	}
	m[k] = cached[T]{v, exp}
}

// forget drops what the caches hold of a user (after any change to them).
func (s *Service) forget(userID int64) {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for k, c := range s.creds {
		if c.v.ID == userID {
			delete(s.creds, k)
		}
	}
	for k, c := range s.tokens {
		if c.v.user.ID == userID {
			delete(s.tokens, k)
		}
	}
	delete(s.grants, userID)
}

// forgetGrants drops every cached grant (after a role changed).
func (s *Service) forgetGrants() {
	s.init()
	s.mu.Lock()
	s.gen++
	clear(s.grants)
	s.mu.Unlock()
}

var errBadLogin = lode.Errorf(lode.EUnauthenticated, "Invalid username or password.")

// dummyHash is verified against when a username is unknown, so that a
// failed login takes as long whether or not the user exists.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not a password of anyone's")
	return h
})

// Login checks a username and password sent from client (the caller's
// address) and returns the user. A password verified once is not hashed
// again, nor its user read again, for CacheTTL (as a token's): clients
// send it with every request. A pair of username and client that failed
// too often lately is refused without a check (EOverloaded).
func (s *Service) Login(ctx context.Context, username, password, client string) (*User, error) {
	s.init()
	key := username + "\x00" + client
	if err := s.fails.check(key, s.now()); err != nil {
		return nil, err
	}
	u, err := s.login(ctx, username, password)
	switch lode.ErrorCode(err) {
	case "":
		s.fails.reset(key)
	case lode.EUnauthenticated:
		s.fails.fail(key, s.now())
	}
	return u, err
}

func (s *Service) login(ctx context.Context, username, password string) (*User, error) {
	mac := hmac.New(sha256.New, s.key[:])
	mac.Write([]byte(username))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var k [32]byte
	copy(k[:], mac.Sum(nil))
	now := s.now()
	s.mu.Lock()
	c, ok := s.creds[k]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.v, nil
	}
	gen := s.generation()
	u, err := s.Store.GetUser(ctx, username)
	if err != nil && lode.ErrorCode(err) != lode.ENotFound {
		return nil, err
	}
	hash := dummyHash()
	if u != nil {
		hash = u.PasswordHash
	}
	good, err := s.verify(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if u == nil || !good {
		return nil, errBadLogin
	}
	if ttl := s.ttl(); ttl > 0 {
		putFrom(s, s.creds, gen, k, u, now.Add(ttl))
	}
	return u, nil
}

var errBadToken = lode.Errorf(lode.EUnauthenticated, "Invalid or expired token.")

// touchEvery is how often a token's last use is written down.
const touchEvery = time.Hour

// Authenticate returns the identity a token secret stands for.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Identity, error) {
	s.init()
	if !LooksLikeToken(secret) {
		return nil, errBadToken
	}
	hash := HashToken(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.tokens[hash]
	s.mu.Unlock()
	tu := c.v
	if !ok || !now.Before(c.expires) {
		gen := s.generation()
		t, err := s.Store.GetToken(ctx, hash)
		if lode.ErrorCode(err) == lode.ENotFound {
			return nil, errBadToken
		}
		if err != nil {
			return nil, err
		}
		u, err := s.Store.GetUserByID(ctx, t.UserID)
		if lode.ErrorCode(err) == lode.ENotFound {
			return nil, errBadToken
		}
		if err != nil {
			return nil, err
		}
		if t.Kind != TokenSession && now.Sub(time.UnixMilli(t.LastUsedMs)) > touchEvery {
			if err := s.Store.TouchToken(ctx, t.ID, now.UnixMilli()); err == nil {
				t.LastUsedMs = now.UnixMilli()
			}
		}
		tu = tokenUser{t, u}
		if ttl := s.ttl(); ttl > 0 {
			putFrom(s, s.tokens, gen, hash, tu, now.Add(ttl))
		}
	}
	if tu.token.ExpiresMs > 0 && now.UnixMilli() >= tu.token.ExpiresMs {
		return nil, errBadToken
	}
	return &Identity{User: tu.user, Token: tu.token}, nil
}

// ValidateUsername applies the rules for usernames: not empty, at most
// 255 characters, no control characters, no colon (HTTP Basic splits the
// username from the password at the first colon).
func ValidateUsername(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return lode.Errorf(lode.EInvalid, "Username and password cannot be empty.")
	case len(name) > 255:
		return lode.Errorf(lode.EInvalid, "Username must be at most 255 characters.")
	case strings.ContainsRune(name, ':'):
		return lode.Errorf(lode.EInvalid, "Username cannot contain ':'.")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return lode.Errorf(lode.EInvalid, "Username cannot contain control characters.")
	}
	return nil
}

// CreateUser creates a user with a password.
func (s *Service) CreateUser(ctx context.Context, username, password string, admin bool) (*User, error) {
	if err := ValidateUsername(username); err != nil {
		return nil, err
	}
	if password == "" {
		return nil, lode.Errorf(lode.EInvalid, "Username and password cannot be empty.")
	}
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.CreateUser(ctx, User{Username: username, PasswordHash: hash, IsAdmin: admin, CreatedMs: s.now().UnixMilli()})
	if lode.ErrorCode(err) == lode.EExists {
		return nil, lode.Errorf(lode.EExists, "User (username=%s) already exists.", username)
	}
	return u, err
}

// hashSlot waits for one of the maxHashing slots; release gives it back.
func (s *Service) hashSlot(ctx context.Context) (release func(), err error) {
	s.init()
	select {
	case s.hashing <- struct{}{}:
		return func() { <-s.hashing }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) hash(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h, err := HashPassword(password)
	if err != nil {
		return "", lode.Internal(err, "Could not hash the password.")
	}
	return h, nil
}

// verify checks a password against a hash in a hashing slot.
func (s *Service) verify(ctx context.Context, hash, password string) (bool, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return VerifyPassword(hash, password), nil
}

// User returns a user by name.
func (s *Service) User(ctx context.Context, username string) (*User, error) {
	u, err := s.Store.GetUser(ctx, username)
	if lode.ErrorCode(err) == lode.ENotFound {
		return nil, lode.Errorf(lode.ENotFound, "User with username=%s not found", username)
	}
	return u, err
}

// SetPassword changes a user's password. A user changing their own must
// give the current one, unless this very request proved it (HTTP Basic):
// a stolen session or token alone cannot take over the account. One that
// is given is checked even then, as MLflow 3 checks it: a 3.x client that
// sends a wrong one is refused, while the 2.x client, which cannot send
// it, still can change its password.
func (s *Service) SetPassword(ctx context.Context, caller *Identity, username, password string, current *string) error {
	u, err := s.User(ctx, username)
	if err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	if caller != nil && caller.User != nil && caller.User.ID == u.ID && (!caller.Basic || current != nil) {
		if current == nil {
			return lode.Errorf(lode.EInvalid, "Current password is required when changing your own password.")
		}
		if err := s.checkCurrent(ctx, u, *current); err != nil {
			return err
		}
		if *current == password {
			return lode.Errorf(lode.EInvalid, "New password must differ from the current password.")
		}
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	if err := s.Store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	// Sessions opened with the old password end with it, but for the one
	// that made the change, having just proved the current password: the
	// user changing theirs on the account page stays signed in.
	defer s.forget(u.ID)
	ts, err := s.Store.ListTokens(ctx, u.ID, TokenSession)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if caller != nil && caller.User != nil && caller.User.ID == u.ID && caller.Token != nil && caller.Token.ID == t.ID {
			continue
		}
		if err := s.Store.DeleteToken(ctx, t.ID); err != nil && lode.ErrorCode(err) != lode.ENotFound {
			return err
		}
	}
	return nil
}

// checkCurrent verifies a password given to prove the caller knows it,
// under the same throttle and bound on hashing as a sign-in: a stolen
// session or token must not become a way to guess the password freely.
func (s *Service) checkCurrent(ctx context.Context, u *User, password string) error {
	s.init()
	key := u.Username + "\x00current password"
	if err := s.fails.check(key, s.now()); err != nil {
		return err
	}
	good, err := s.verify(ctx, u.PasswordHash, password)
	if err != nil {
		return err
	}
	if !good {
		s.fails.fail(key, s.now())
		return lode.Errorf(lode.EInvalid, "Current password does not match.")
	}
	s.fails.reset(key)
	return nil
}

// SetAdmin makes a user an admin or not.
func (s *Service) SetAdmin(ctx context.Context, username string, admin bool) error {
	u, err := s.User(ctx, username)
	if err != nil {
		return err
	}
	if err := s.Store.SetAdmin(ctx, u.ID, admin); err != nil {
		return err
	}
	s.forget(u.ID)
	return nil
}

// DeleteUser deletes a user, their own grants and their tokens. Nobody may
// delete themselves (another admin must), so a server keeps an admin.
func (s *Service) DeleteUser(ctx context.Context, caller *Identity, username string) error {
	u, err := s.User(ctx, username)
	if err != nil {
		return err
	}
	if caller != nil && caller.User != nil && caller.User.ID == u.ID {
		return lode.Errorf(lode.EBadRequest, "Users cannot delete their own account. Ask another admin to delete this user instead.")
	}
	if err := s.Store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	s.forget(u.ID)
	return nil
}

// Grants returns what decides a user's access: the permissions of their
// roles in the default workspace, their own role's included.
func (s *Service) Grants(ctx context.Context, userID int64) ([]RolePermission, error) {
	s.init()
	now := s.now()
	s.mu.Lock()
	c, ok := s.grants[userID]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.v, nil
	}
	gen := s.generation()
	gs, err := s.Store.UserGrants(ctx, userID, DefaultWorkspace)
	if err != nil {
		return nil, err
	}
	if ttl := s.ttl(); ttl > 0 {
		putFrom(s, s.grants, gen, userID, gs, now.Add(ttl))
	}
	return gs, nil
}

// Permission is a caller's permission on one resource.
func (s *Service) Permission(ctx context.Context, id *Identity, t ResourceType, rid string) (Permission, error) {
	switch {
	case id.Admin():
		return Manage, nil
	case id.Anonymous():
		return NoPermissions, nil
	}
	gs, err := s.Grants(ctx, id.User.ID)
	if err != nil {
		return "", err
	}
	return Resolve(gs, t, rid, s.DefaultPermission()), nil
}

// ErrUnauthenticated is the error of a request that needs a user and
// comes from nobody.
var ErrUnauthenticated = lode.Errorf(lode.EUnauthenticated, "You are not authenticated. Sign in, or send a username and password (HTTP Basic: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD) or a token (HTTP Bearer: MLFLOW_TRACKING_TOKEN).")

// Denied is the error of a request its caller may not make.
func Denied(format string, args ...any) error {
	return lode.Errorf(lode.EPermission, "Permission denied: %s", fmt.Sprintf(format, args...))
}

// Check returns nil when the caller may do what need names to a resource:
// an error with EUnauthenticated when nobody signed in, EPermission when
// the caller may not.
func (s *Service) Check(ctx context.Context, id *Identity, t ResourceType, rid string, need Need) error {
	if id.Admin() {
		return nil
	}
	if id.Anonymous() {
		return ErrUnauthenticated
	}
	p, err := s.Permission(ctx, id, t, rid)
	if err != nil {
		return err
	}
	if !p.Allows(need) {
		return Denied("user '%s' may not %s %s '%s'.", id.Name(), need, strings.ReplaceAll(string(t), "_", " "), rid)
	}
	return nil
}

// PermissionUnnamed is a caller's permission on a resource of type t that
// no grant names (ResolveUnnamed).
func (s *Service) PermissionUnnamed(ctx context.Context, id *Identity, t ResourceType) (Permission, error) {
	switch {
	case id.Admin():
		return Manage, nil
	case id.Anonymous():
		return NoPermissions, nil
	}
	gs, err := s.Grants(ctx, id.User.ID)
	if err != nil {
		return "", err
	}
	return ResolveUnnamed(gs, t, s.DefaultPermission()), nil
}

// ManagesWorkspace reports whether the caller is an admin or holds a
// workspace MANAGE grant: who may grant on every resource of a type.
func (s *Service) ManagesWorkspace(ctx context.Context, id *Identity) (bool, error) {
	if id.Admin() {
		return true, nil
	}
	if id.Anonymous() {
		return false, nil
	}
	gs, err := s.Grants(ctx, id.User.ID)
	if err != nil {
		return false, err
	}
	for _, g := range gs {
		if g.Type == Workspace && g.Permission == Manage {
			return true, nil
		}
	}
	return false, nil
}

// CheckUnnamed is Check for a resource of type t that no grant names.
func (s *Service) CheckUnnamed(ctx context.Context, id *Identity, t ResourceType, need Need) error {
	if id.Admin() {
		return nil
	}
	if id.Anonymous() {
		return ErrUnauthenticated
	}
	p, err := s.PermissionUnnamed(ctx, id, t)
	if err != nil {
		return err
	}
	if !p.Allows(need) {
		return Denied("user '%s' may not %s it.", id.Name(), need)
	}
	return nil
}

// CheckCreate returns nil when the caller may create a resource of type t
// named rid ("" when the server picks its id). Any signed-in user may,
// unless a DENY on every resource of the type, or on that name, vetoes it,
// as MLflow 3 does: what the creator could not even read is not made. A
// NO_PERMISSIONS default or grant vetoes nothing.
func (s *Service) CheckCreate(ctx context.Context, id *Identity, t ResourceType, rid string) error {
	if id.Admin() {
		return nil
	}
	if id.Anonymous() {
		return ErrUnauthenticated
	}
	var p Permission
	var err error
	if rid == "" {
		p, err = s.PermissionUnnamed(ctx, id, t)
	} else {
		p, err = s.Permission(ctx, id, t, rid)
	}
	if err != nil {
		return err
	}
	if p == Deny {
		return Denied("user '%s' may not create a %s here.", id.Name(), strings.ReplaceAll(string(t), "_", " "))
	}
	return nil
}

// Readable returns the resources of a type the caller may read, as a
// scope a search can apply in its query: it decides exactly as Check
// would for each resource.
func (s *Service) Readable(ctx context.Context, id *Identity, t ResourceType) (lode.Scope, error) {
	switch {
	case id.Admin():
		return lode.Scope{}, nil
	case id.Anonymous():
		return lode.Scope{Only: true}, nil
	}
	gs, err := s.Grants(ctx, id.User.ID)
	if err != nil {
		return lode.Scope{}, err
	}
	def := s.DefaultPermission()
	// A resource no grant names has the permission of the wildcard grants
	// alone.
	base := ResolveUnnamed(gs, t, def)
	named := map[string]bool{}
	for _, g := range gs {
		if g.Type == t && g.Pattern != Wildcard {
			named[g.Pattern] = true
		}
	}
	ids := make([]string, 0, len(named))
	for rid := range named {
		ids = append(ids, rid)
	}
	sort.Strings(ids)
	var sc lode.Scope
	if base.Allows(NeedRead) {
		for _, rid := range ids {
			if !Resolve(gs, t, rid, def).Allows(NeedRead) {
				sc.Except = append(sc.Except, rid)
			}
		}
		return sc, nil
	}
	sc.Only, sc.IDs = true, []string{}
	for _, rid := range ids {
		if Resolve(gs, t, rid, def).Allows(NeedRead) {
			sc.IDs = append(sc.IDs, rid)
		}
	}
	return sc, nil
}

// ownRole returns a user's own role, creating and assigning it when they
// have none yet.
func (s *Service) ownRole(ctx context.Context, userID int64) (*Role, error) {
	name := OwnRoleName(userID)
	r, err := s.Store.GetRoleByName(ctx, DefaultWorkspace, name)
	if err == nil || lode.ErrorCode(err) != lode.ENotFound {
		return r, err
	}
	r, err = s.Store.CreateRole(ctx, Role{Workspace: DefaultWorkspace, Name: name})
	if lode.ErrorCode(err) == lode.EExists { // created at the same moment elsewhere
		return s.Store.GetRoleByName(ctx, DefaultWorkspace, name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.AssignRole(ctx, userID, r.ID); err != nil && lode.ErrorCode(err) != lode.EExists {
		return nil, err
	}
	return r, nil
}

// Grant gives a user a permission of their own on a resource (or on all
// of a type, rid "*"). With replace unset, a grant the user already has
// there is EExists, as MLflow 3's grant API answers; with it, the level is
// changed.
func (s *Service) Grant(ctx context.Context, username string, t ResourceType, rid string, p Permission, replace bool) error {
	u, err := s.User(ctx, username)
	if err != nil {
		return err
	}
	return s.grant(ctx, u.ID, username, t, rid, p, replace)
}

func (s *Service) grant(ctx context.Context, userID int64, username string, t ResourceType, rid string, p Permission, replace bool) error {
	defer s.forget(userID)
	r, err := s.ownRole(ctx, userID)
	if err != nil {
		return err
	}
	_, err = s.Store.AddRolePermission(ctx, RolePermission{RoleID: r.ID, Type: t, Pattern: rid, Permission: p})
	if lode.ErrorCode(err) != lode.EExists {
		return err
	}
	if !replace {
		return lode.Errorf(lode.EExists, "Permission for user=%s on resource_type=%s, resource_id=%s already exists.", username, t, rid)
	}
	old, err := s.Store.FindRolePermission(ctx, r.ID, t, rid)
	if err != nil {
		return err
	}
	_, err = s.Store.UpdateRolePermission(ctx, old.ID, p)
	return err
}

// OwnGrant returns a user's own grant on a resource.
func (s *Service) OwnGrant(ctx context.Context, username string, t ResourceType, rid string) (*User, *RolePermission, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.Store.GetRoleByName(ctx, DefaultWorkspace, OwnRoleName(u.ID))
	if err == nil {
		var p *RolePermission
		if p, err = s.Store.FindRolePermission(ctx, r.ID, t, rid); err == nil {
			return u, p, nil
		}
	}
	if lode.ErrorCode(err) == lode.ENotFound {
		err = lode.Errorf(lode.ENotFound, "Permission for user=%s on resource_type=%s, resource_id=%s not found.", username, t, rid)
	}
	return u, nil, err
}

// OwnGrants returns a user's own grants.
func (s *Service) OwnGrants(ctx context.Context, userID int64) ([]RolePermission, error) {
	r, err := s.Store.GetRoleByName(ctx, DefaultWorkspace, OwnRoleName(userID))
	if lode.ErrorCode(err) == lode.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.Permissions, nil
}

// Revoke takes a user's own grant on a resource away.
func (s *Service) Revoke(ctx context.Context, username string, t ResourceType, rid string) error {
	u, p, err := s.OwnGrant(ctx, username, t, rid)
	if err != nil {
		return err
	}
	defer s.forget(u.ID)
	return s.Store.RemoveRolePermission(ctx, p.ID)
}

// GrantCreator makes the caller a manager of what they just created, as
// MLflow does for experiments and registered models.
func (s *Service) GrantCreator(ctx context.Context, id *Identity, t ResourceType, rid string) error {
	if id == nil || id.Open || id.User == nil {
		return nil
	}
	if rid == Wildcard || rid == "" {
		// A resource named "*" would make its creator the manager of all
		// of its kind; names are checked before they get here.
		return lode.Errorf(lode.EInvalid, "A %s cannot be named '%s'.", strings.ReplaceAll(string(t), "_", " "), rid)
	}
	return s.grant(ctx, id.User.ID, id.User.Username, t, rid, Manage, true)
}

// Renamed moves users' own grants to a resource's new name.
func (s *Service) Renamed(ctx context.Context, t ResourceType, from, to string) error {
	if to == Wildcard || to == "" {
		return lode.Errorf(lode.EInvalid, "A %s cannot be named '%s'.", strings.ReplaceAll(string(t), "_", " "), to)
	}
	defer s.forgetGrants()
	return s.Store.RenameGrants(ctx, t, from, to)
}

// Deleted removes users' own grants on a deleted resource, so that one
// created later under its name starts without them.
func (s *Service) Deleted(ctx context.Context, t ResourceType, rid string) error {
	defer s.forgetGrants()
	return s.Store.DeleteGrants(ctx, t, rid)
}

// Roles. Names starting with __user_ are kept for users' own roles.

func checkRoleName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return lode.Errorf(lode.EInvalid, "Role name cannot be empty.")
	case IsOwnRoleName(name):
		return lode.Errorf(lode.EInvalid, "Role name '%s' uses the reserved '__user_' prefix, which is held for the per-user permission representation. Choose a different name.", name)
	case len(name) > 255:
		return lode.Errorf(lode.EInvalid, "Role name must be at most 255 characters.")
	}
	return nil
}

// CreateRole creates a role.
func (s *Service) CreateRole(ctx context.Context, workspace, name string, description *string) (*Role, error) {
	if strings.TrimSpace(workspace) == "" {
		return nil, lode.Errorf(lode.EInvalid, "Workspace cannot be empty.")
	}
	if err := checkRoleName(name); err != nil {
		return nil, err
	}
	r, err := s.Store.CreateRole(ctx, Role{Workspace: workspace, Name: name, Description: description})
	if lode.ErrorCode(err) == lode.EExists {
		return nil, lode.Errorf(lode.EExists, "Role (name=%s, workspace=%s) already exists.", name, workspace)
	}
	return r, err
}

// Role returns a role with its permissions.
func (s *Service) Role(ctx context.Context, id int64) (*Role, error) {
	r, err := s.Store.GetRole(ctx, id)
	if lode.ErrorCode(err) == lode.ENotFound {
		return nil, lode.Errorf(lode.ENotFound, "Role with id=%d not found", id)
	}
	return r, err
}

// UpdateRole renames a role or changes its description.
func (s *Service) UpdateRole(ctx context.Context, id int64, name, description *string) (*Role, error) {
	if name == nil && description == nil {
		return nil, lode.Errorf(lode.EInvalid, "At least one of 'name' or 'description' must be provided to update a role.")
	}
	r, err := s.Role(ctx, id)
	if err != nil {
		return nil, err
	}
	if IsOwnRoleName(r.Name) {
		return nil, lode.Errorf(lode.EInvalid, "Role '%s' holds a user's own permissions and cannot be changed.", r.Name)
	}
	if name != nil {
		if err := checkRoleName(*name); err != nil {
			return nil, err
		}
	}
	out, err := s.Store.UpdateRole(ctx, id, name, description)
	if lode.ErrorCode(err) == lode.EExists {
		return nil, lode.Errorf(lode.EExists, "Role with name=%s already exists in workspace=%s", *name, r.Workspace)
	}
	return out, err
}

// DeleteRole deletes a role, its permissions and its assignments.
func (s *Service) DeleteRole(ctx context.Context, id int64) error {
	if _, err := s.Role(ctx, id); err != nil {
		return err
	}
	defer s.forgetGrants()
	return s.Store.DeleteRole(ctx, id)
}

// AddRolePermission grants a role a permission.
func (s *Service) AddRolePermission(ctx context.Context, p RolePermission) (*RolePermission, error) {
	if err := CheckGrant(p.Type, p.Pattern, p.Permission); err != nil {
		return nil, err
	}
	if _, err := s.Role(ctx, p.RoleID); err != nil {
		return nil, err
	}
	defer s.forgetGrants()
	out, err := s.Store.AddRolePermission(ctx, p)
	if lode.ErrorCode(err) == lode.EExists {
		return nil, lode.Errorf(lode.EExists, "Role permission (role_id=%d, resource_type=%s, resource_pattern=%s) already exists.", p.RoleID, p.Type, p.Pattern)
	}
	return out, err
}

// RolePermission returns one permission of a role.
func (s *Service) RolePermission(ctx context.Context, id int64) (*RolePermission, error) {
	p, err := s.Store.GetRolePermission(ctx, id)
	if lode.ErrorCode(err) == lode.ENotFound {
		return nil, lode.Errorf(lode.ENotFound, "Role permission with id=%d not found", id)
	}
	return p, err
}

// UpdateRolePermission changes the level of a role's permission.
func (s *Service) UpdateRolePermission(ctx context.Context, id int64, perm Permission) (*RolePermission, error) {
	if !perm.Valid() {
		return nil, lode.Errorf(lode.EInvalid, "Invalid permission '%s'. Valid permissions are: %s", perm, quoted(Permissions))
	}
	p, err := s.RolePermission(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := CheckGrant(p.Type, p.Pattern, perm); err != nil {
		return nil, err
	}
	defer s.forgetGrants()
	return s.Store.UpdateRolePermission(ctx, id, perm)
}

// RemoveRolePermission takes a permission away from a role.
func (s *Service) RemoveRolePermission(ctx context.Context, id int64) error {
	if _, err := s.RolePermission(ctx, id); err != nil {
		return err
	}
	defer s.forgetGrants()
	return s.Store.RemoveRolePermission(ctx, id)
}

// AssignRole gives a user a role.
func (s *Service) AssignRole(ctx context.Context, username string, roleID int64) (*Assignment, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, err
	}
	if _, err := s.Role(ctx, roleID); err != nil {
		return nil, err
	}
	defer s.forget(u.ID)
	a, err := s.Store.AssignRole(ctx, u.ID, roleID)
	if lode.ErrorCode(err) == lode.EExists {
		return nil, lode.Errorf(lode.EExists, "User role assignment (user_id=%d, role_id=%d) already exists", u.ID, roleID)
	}
	return a, err
}

// UnassignRole takes a role from a user.
func (s *Service) UnassignRole(ctx context.Context, username string, roleID int64) error {
	u, err := s.User(ctx, username)
	if err != nil {
		return err
	}
	defer s.forget(u.ID)
	err = s.Store.UnassignRole(ctx, u.ID, roleID)
	if lode.ErrorCode(err) == lode.ENotFound {
		return lode.Errorf(lode.ENotFound, "User role assignment (user_id=%d, role_id=%d) not found", u.ID, roleID)
	}
	return err
}

// Tokens.

// MaxTokenTTL bounds how long a token made for a client may live.
const MaxTokenTTL = 366 * 24 * time.Hour

// CreateToken makes a token for a user and returns its secret, which is
// not stored and cannot be shown again. ttl 0 makes one that does not
// expire (API tokens only).
func (s *Service) CreateToken(ctx context.Context, u *User, name string, kind TokenKind, ttl time.Duration, jobID string) (string, *Token, error) {
	if len(name) > 255 {
		return "", nil, lode.Errorf(lode.EInvalid, "Token name must be at most 255 characters.")
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return "", nil, lode.Errorf(lode.EInvalid, "A token's lifetime must be between 0 (no expiry) and %d days.", int(MaxTokenTTL.Hours()/24))
	}
	if ttl == 0 && kind != TokenAPI {
		return "", nil, errors.New("auth: session and job tokens must expire")
	}
	secret, id := newSecret()
	now := s.now()
	t := Token{ID: id, UserID: u.ID, Name: name, Kind: kind, Hash: HashToken(secret), CreatedMs: now.UnixMilli(), JobID: jobID, Username: u.Username}
	if ttl > 0 {
		t.ExpiresMs = now.Add(ttl).UnixMilli()
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, &t, nil
}

// RevokeToken deletes a token by id; only its owner and admins may.
func (s *Service) RevokeToken(ctx context.Context, caller *Identity, id string) error {
	t, err := s.Store.GetTokenByID(ctx, id)
	if err != nil && lode.ErrorCode(err) != lode.ENotFound {
		return err
	}
	// Someone else's token is answered as a missing one: ids are no
	// oracle of other users' tokens.
	if err != nil || (!caller.Admin() && (caller.User == nil || caller.User.ID != t.UserID)) {
		return lode.Errorf(lode.ENotFound, "Token with id=%s not found.", id)
	}
	if err := s.Store.DeleteToken(ctx, id); err != nil {
		return err
	}
	s.dropToken(t.Hash)
	return nil
}

// RevokeSecret deletes the token a secret stands for (a session ending).
func (s *Service) RevokeSecret(ctx context.Context, secret string) error {
	hash := HashToken(secret)
	t, err := s.Store.GetToken(ctx, hash)
	if err != nil {
		if lode.ErrorCode(err) == lode.ENotFound {
			return nil
		}
		return err
	}
	err = s.Store.DeleteToken(ctx, t.ID)
	s.dropToken(hash)
	return err
}

// RevokeJobTokens deletes the tokens made for a job, once it has ended.
func (s *Service) RevokeJobTokens(ctx context.Context, jobID string) error {
	s.init()
	// The store first, then the cache: a read racing the revoke either
	// sees the token gone or is not cached (see putFrom).
	err := s.Store.DeleteJobTokens(ctx, jobID)
	s.mu.Lock()
	s.gen++
	for k, c := range s.tokens {
		if c.v.token.JobID == jobID {
			delete(s.tokens, k)
		}
	}
	s.mu.Unlock()
	return err
}

func (s *Service) dropToken(hash string) {
	s.init()
	s.mu.Lock()
	s.gen++
	delete(s.tokens, hash)
	s.mu.Unlock()
}

// Sweep deletes expired tokens; the server calls it now and then.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	return s.Store.DeleteExpiredTokens(ctx, s.now().UnixMilli())
}
