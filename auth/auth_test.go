package auth_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/sqlite"
)

func TestResolve(t *testing.T) {
	g := func(typ auth.ResourceType, pat string, p auth.Permission) auth.RolePermission {
		return auth.RolePermission{Type: typ, Pattern: pat, Permission: p}
	}
	E, M, W := auth.Experiment, auth.RegisteredModel, auth.Workspace
	tests := []struct {
		name   string
		grants []auth.RolePermission
		def    auth.Permission
		want   auth.Permission
	}{
		{"nothing granted: the default", nil, auth.Read, auth.Read},
		{"nothing granted, default none", nil, auth.NoPermissions, auth.NoPermissions},
		{"exact grant", []auth.RolePermission{g(E, "1", auth.Edit)}, auth.Read, auth.Edit},
		{"another resource's grant", []auth.RolePermission{g(E, "2", auth.Edit)}, auth.Read, auth.Read},
		{"another type's grant", []auth.RolePermission{g(M, "1", auth.Edit)}, auth.Read, auth.Read},
		{"wildcard", []auth.RolePermission{g(E, "*", auth.Manage)}, auth.Read, auth.Manage},
		{"highest wins", []auth.RolePermission{g(E, "1", auth.Read), g(E, "*", auth.Edit)}, auth.NoPermissions, auth.Edit},
		{"floored at the default", []auth.RolePermission{g(E, "1", auth.Read)}, auth.Edit, auth.Edit},
		{"deny beats manage", []auth.RolePermission{g(E, "1", auth.Manage), g(E, "1", auth.Deny)}, auth.Read, auth.Deny},
		{"wildcard deny beats exact manage", []auth.RolePermission{g(E, "1", auth.Manage), g(E, "*", auth.Deny)}, auth.Read, auth.Deny},
		{"workspace manage beats deny", []auth.RolePermission{g(E, "1", auth.Deny), g(W, "*", auth.Manage)}, auth.Read, auth.Manage},
		{"workspace use adds nothing", []auth.RolePermission{g(W, "*", auth.Use)}, auth.NoPermissions, auth.NoPermissions},
		{"MLflow 2's NO_PERMISSIONS overrides the default", []auth.RolePermission{g(E, "1", auth.NoPermissions)}, auth.Read, auth.NoPermissions},
		{"NO_PERMISSIONS loses to a grant", []auth.RolePermission{g(E, "1", auth.NoPermissions), g(E, "*", auth.Read)}, auth.NoPermissions, auth.Read},
	}
	for _, tc := range tests {
		if got := auth.Resolve(tc.grants, E, "1", tc.def); got != tc.want {
			t.Errorf("%s: Resolve = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestAllows(t *testing.T) {
	want := map[auth.Permission]string{
		auth.Read: "read", auth.Use: "read use", auth.Edit: "read use update",
		auth.Manage: "read use update delete manage", auth.NoPermissions: "", auth.Deny: "",
	}
	for p, caps := range want {
		var got []string
		for _, n := range []auth.Need{auth.NeedRead, auth.NeedUse, auth.NeedUpdate, auth.NeedDelete, auth.NeedManage} {
			if p.Allows(n) {
				got = append(got, n.String())
			}
		}
		if strings.Join(got, " ") != caps {
			t.Errorf("%s allows %v, want %q", p, got, caps)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not an Argon2id PHC string", h)
	}
	h2, _ := auth.HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !auth.VerifyPassword(h, "correct horse battery") {
		t.Fatal("the right password does not verify")
	}
	for _, bad := range []string{"correct horse batterY", "", "correct horse battery "} {
		if auth.VerifyPassword(h, bad) {
			t.Errorf("%q verifies", bad)
		}
	}
	for _, broken := range []string{"", "plain", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "$bcrypt$x"} {
		if auth.VerifyPassword(broken, "x") {
			t.Errorf("hash %q verifies", broken)
		}
	}
}

func newService(t testing.TB, def auth.Permission) (*auth.Service, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lode.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &auth.Service{Store: db, Default: def}, db
}

func TestLoginAndPasswords(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, auth.Read)
	if _, err := s.CreateUser(ctx, "alice", "short", false); lode.ErrorCode(err) != lode.EInvalid {
		t.Fatalf("a short password: %v", err)
	}
	for _, name := range []string{"", " ", "a:b", "a\nb"} {
		if _, err := s.CreateUser(ctx, name, "long enough password", false); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("username %q: %v", name, err)
		}
	}
	alice, err := s.CreateUser(ctx, "alice", "alice's password", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "another password", false); lode.ErrorCode(err) != lode.EExists {
		t.Fatalf("a duplicate user: %v", err)
	}
	if u, err := s.Login(ctx, "alice", "alice's password", "test"); err != nil || u.ID != alice.ID {
		t.Fatalf("Login = %v, %v", u, err)
	}
	for _, c := range [][2]string{{"alice", "wrong password!"}, {"nobody", "alice's password"}, {"alice", ""}} {
		if _, err := s.Login(ctx, c[0], c[1], "test"); lode.ErrorCode(err) != lode.EUnauthenticated {
			t.Errorf("Login(%q, %q) = %v, want UNAUTHENTICATED", c[0], c[1], err)
		}
	}
	// A cached login stops working once the password changes; so do the
	// user's sessions, but for the one that changed it.
	var sessions []string
	var self *auth.Identity
	for i := 0; i < 2; i++ {
		secret, tok, err := s.CreateToken(ctx, alice, "web session", auth.TokenSession, time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, secret)
		self = &auth.Identity{User: alice, Token: tok}
	}
	cur := "wrong"
	if err := s.SetPassword(ctx, self, "alice", "a new password!", nil); lode.ErrorCode(err) != lode.EInvalid {
		t.Fatalf("changing one's own password without the current one: %v", err)
	}
	if err := s.SetPassword(ctx, self, "alice", "a new password!", &cur); lode.ErrorCode(err) != lode.EInvalid {
		t.Fatalf("changing one's own password with a wrong current one: %v", err)
	}
	cur = "alice's password"
	if err := s.SetPassword(ctx, self, "alice", "a new password!", &cur); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "alice", "alice's password", "test"); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("the old password still works: %v", err)
	}
	if _, err := s.Login(ctx, "alice", "a new password!", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, sessions[0]); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Errorf("another session after the password changed: %v", err)
	}
	if _, err := s.Authenticate(ctx, sessions[1]); err != nil {
		t.Errorf("the session that changed the password: %v", err)
	}
	// Basic auth proved the current password already; one given anyway is
	// still checked (MLflow 3's client sends it).
	basic := &auth.Identity{User: alice, Basic: true}
	cur = "wrong"
	if err := s.SetPassword(ctx, basic, "alice", "third password!", &cur); lode.ErrorCode(err) != lode.EInvalid {
		t.Fatalf("a wrong current password over Basic: %v", err)
	}
	cur = "a new password!"
	if err := s.SetPassword(ctx, basic, "alice", "a new password!", &cur); lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(lode.ErrorMessage(err), "differ") {
		t.Fatalf("a new password equal to the given current one: %v", err)
	}
	if err := s.SetPassword(ctx, basic, "alice", "third password!", nil); err != nil {
		t.Fatal(err)
	}
	// An admin sets someone else's without it.
	admin, _ := s.CreateUser(ctx, "root", "root's password", true)
	if err := s.SetPassword(ctx, &auth.Identity{User: admin}, "alice", "fourth password", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, &auth.Identity{User: admin}, "root"); lode.ErrorCode(err) != lode.EBadRequest {
		t.Fatalf("deleting oneself: %v", err)
	}
	if err := s.DeleteUser(ctx, &auth.Identity{User: admin}, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "alice", "fourth password", "test"); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("a deleted user logs in: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	s, _ := newService(t, auth.Read)
	s.Now = func() time.Time { return now }
	alice, _ := s.CreateUser(ctx, "alice", "alice's password", false)
	bob, _ := s.CreateUser(ctx, "bob", "bob's password!", false)
	secret, tok, err := s.CreateToken(ctx, alice, "laptop", auth.TokenAPI, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || tok.Hash == secret || strings.Contains(tok.Hash, secret) {
		t.Fatalf("secret %q, stored hash %q", secret, tok.Hash)
	}
	id, err := s.Authenticate(ctx, secret)
	if err != nil || id.User.ID != alice.ID || id.Token.ID != tok.ID {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	for _, bad := range []string{"", "lode_", secret[:len(secret)-1] + "x", "Bearer " + secret} {
		if _, err := s.Authenticate(ctx, bad); lode.ErrorCode(err) != lode.EUnauthenticated {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	// Bob cannot revoke Alice's token (nor learn it exists); she can.
	if err := s.RevokeToken(ctx, &auth.Identity{User: bob}, tok.ID); lode.ErrorCode(err) != lode.ENotFound {
		t.Fatalf("bob revoking alice's token: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := s.Authenticate(ctx, secret); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("an expired token works: %v", err)
	}
	secret2, tok2, _ := s.CreateToken(ctx, alice, "ci", auth.TokenAPI, 0, "")
	if _, err := s.Authenticate(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, &auth.Identity{User: alice}, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret2); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("a revoked token works: %v", err)
	}
	job, _, _ := s.CreateToken(ctx, alice, "job", auth.TokenJob, time.Hour, "job-1")
	if id, err := s.Authenticate(ctx, job); err != nil || id.Job() != "job-1" {
		t.Fatalf("job token: %+v, %v", id, err)
	}
	if err := s.RevokeJobTokens(ctx, "job-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, job); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("a finished job's token works: %v", err)
	}
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the one expired token", n, err)
	}
}

func TestGrantsAndChecks(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, auth.Read)
	alice, _ := s.CreateUser(ctx, "alice", "alice's password", false)
	bob, _ := s.CreateUser(ctx, "bob", "bob's password!", false)
	a, b := &auth.Identity{User: alice}, &auth.Identity{User: bob}
	if err := s.GrantCreator(ctx, a, auth.Experiment, "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, a, auth.Experiment, "1", auth.NeedDelete); err != nil {
		t.Fatalf("the creator cannot delete: %v", err)
	}
	if err := s.Check(ctx, b, auth.Experiment, "1", auth.NeedRead); err != nil {
		t.Fatalf("default READ: %v", err)
	}
	if err := s.Check(ctx, b, auth.Experiment, "1", auth.NeedUpdate); lode.ErrorCode(err) != lode.EPermission {
		t.Fatalf("bob updates alice's experiment: %v", err)
	}
	if err := s.Check(ctx, &auth.Identity{}, auth.Experiment, "1", auth.NeedRead); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("anonymous: %v", err)
	}
	if err := s.Grant(ctx, "bob", auth.Experiment, "1", auth.Edit, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Grant(ctx, "bob", auth.Experiment, "1", auth.Edit, false); lode.ErrorCode(err) != lode.EExists {
		t.Fatalf("granting twice: %v", err)
	}
	if err := s.Check(ctx, b, auth.Experiment, "1", auth.NeedUpdate); err != nil {
		t.Fatalf("after the grant: %v", err)
	}
	// A role's DENY beats bob's own EDIT.
	r, err := s.CreateRole(ctx, auth.DefaultWorkspace, "blocked", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.Experiment, Pattern: "1", Permission: auth.Deny}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignRole(ctx, "bob", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, b, auth.Experiment, "1", auth.NeedRead); lode.ErrorCode(err) != lode.EPermission {
		t.Fatalf("denied by role: %v", err)
	}
	// A DENY on every experiment (and on a model's name) vetoes creating
	// one; a workspace MANAGE lifts it.
	if err := s.CheckCreate(ctx, b, auth.Experiment, ""); err != nil {
		t.Fatalf("creating an experiment: %v", err)
	}
	wild, _ := s.CreateRole(ctx, auth.DefaultWorkspace, "no experiments", nil)
	s.AddRolePermission(ctx, auth.RolePermission{RoleID: wild.ID, Type: auth.Experiment, Pattern: "*", Permission: auth.Deny})
	s.AddRolePermission(ctx, auth.RolePermission{RoleID: wild.ID, Type: auth.RegisteredModel, Pattern: "secret", Permission: auth.Deny})
	s.AssignRole(ctx, "bob", wild.ID)
	for _, c := range []struct {
		t    auth.ResourceType
		name string
		code string
	}{{auth.Experiment, "", lode.EPermission}, {auth.RegisteredModel, "secret", lode.EPermission}, {auth.RegisteredModel, "open", ""}} {
		if err := s.CheckCreate(ctx, b, c.t, c.name); lode.ErrorCode(err) != c.code {
			t.Errorf("CheckCreate(%s %q) = %v, want %q", c.t, c.name, err, c.code)
		}
	}
	if err := s.CheckCreate(ctx, &auth.Identity{}, auth.Experiment, ""); lode.ErrorCode(err) != lode.EUnauthenticated {
		t.Fatalf("anonymous creates: %v", err)
	}
	wsAdmin, _ := s.CreateRole(ctx, auth.DefaultWorkspace, "workspace admins", nil)
	s.AddRolePermission(ctx, auth.RolePermission{RoleID: wsAdmin.ID, Type: auth.Workspace, Pattern: "*", Permission: auth.Manage})
	s.AssignRole(ctx, "bob", wsAdmin.ID)
	if err := s.CheckCreate(ctx, b, auth.Experiment, ""); err != nil {
		t.Fatalf("a workspace admin creates: %v", err)
	}
	s.DeleteRole(ctx, wsAdmin.ID)
	s.DeleteRole(ctx, wild.ID)
	// Roles of other workspaces grant nothing.
	other, _ := s.CreateRole(ctx, "elsewhere", "admins", nil)
	s.AddRolePermission(ctx, auth.RolePermission{RoleID: other.ID, Type: auth.Workspace, Pattern: "*", Permission: auth.Manage})
	s.AssignRole(ctx, "bob", other.ID)
	if err := s.Check(ctx, b, auth.Experiment, "1", auth.NeedRead); lode.ErrorCode(err) != lode.EPermission {
		t.Fatalf("another workspace's role: %v", err)
	}
	if err := s.UnassignRole(ctx, "bob", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "bob", auth.Experiment, "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "bob", auth.Experiment, "1"); lode.ErrorCode(err) != lode.ENotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := s.Check(ctx, b, auth.Experiment, "1", auth.NeedUpdate); lode.ErrorCode(err) != lode.EPermission {
		t.Fatalf("after the revoke: %v", err)
	}
	// Model grants follow a rename and go with a delete.
	s.GrantCreator(ctx, a, auth.RegisteredModel, "m")
	if err := s.Renamed(ctx, auth.RegisteredModel, "m", "m2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx, a, auth.RegisteredModel, "m2", auth.NeedManage); err != nil {
		t.Fatalf("after the rename: %v", err)
	}
	s.Deleted(ctx, auth.RegisteredModel, "m2")
	if err := s.Check(ctx, a, auth.RegisteredModel, "m2", auth.NeedUpdate); lode.ErrorCode(err) != lode.EPermission {
		t.Fatalf("after the delete: %v", err)
	}
}

// Readable's scope holds exactly the resources Check lets the user read,
// over random grants and both kinds of default.
func TestReadableMatchesCheck(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	levels := []auth.Permission{auth.Read, auth.Use, auth.Edit, auth.Manage, auth.Deny, auth.NoPermissions}
	ids := []string{"1", "2", "3", "4", "5", "*"}
	for round := 0; round < 40; round++ {
		def := []auth.Permission{auth.Read, auth.NoPermissions}[round%2]
		s, db := newService(t, def)
		s.CacheTTL = -1
		u, _ := s.CreateUser(ctx, "u", "u's long password", false)
		role, _ := db.CreateRole(ctx, auth.Role{Workspace: auth.DefaultWorkspace, Name: "r"})
		db.AssignRole(ctx, u.ID, role.ID)
		var desc []string
		for i := 0; i < rng.IntN(5); i++ {
			id := ids[rng.IntN(len(ids))]
			p := levels[rng.IntN(len(levels))]
			if _, err := db.AddRolePermission(ctx, auth.RolePermission{RoleID: role.ID, Type: auth.Experiment, Pattern: id, Permission: p}); err == nil {
				desc = append(desc, id+"="+string(p))
			}
		}
		id := &auth.Identity{User: u}
		sc, err := s.Readable(ctx, id, auth.Experiment)
		if err != nil {
			t.Fatal(err)
		}
		for _, rid := range []string{"1", "2", "3", "4", "5", "6"} {
			can := s.Check(ctx, id, auth.Experiment, rid, auth.NeedRead) == nil
			if sc.Has(rid) != can {
				t.Fatalf("default %s, grants %v: scope %+v has %s = %v, Check says %v", def, desc, sc, rid, sc.Has(rid), can)
			}
		}
	}
}

func ExampleResolve() {
	grants := []auth.RolePermission{
		{Type: auth.Experiment, Pattern: "*", Permission: auth.Read},
		{Type: auth.Experiment, Pattern: "7", Permission: auth.Edit},
	}
	fmt.Println(auth.Resolve(grants, auth.Experiment, "7", auth.NoPermissions))
	fmt.Println(auth.Resolve(grants, auth.Experiment, "8", auth.NoPermissions))
	// Output:
	// EDIT
	// READ
}

func TestLoginThrottle(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s, _ := newService(t, auth.Read)
	s.Now = func() time.Time { return now }
	s.CreateUser(ctx, "alice", "alice's password", false)
	for i := 0; i < 10; i++ {
		if _, err := s.Login(ctx, "alice", "guess number "+fmt.Sprint(i), "10.0.0.9"); lode.ErrorCode(err) != lode.EUnauthenticated {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// The right password is refused too while the guesser is throttled...
	if _, err := s.Login(ctx, "alice", "alice's password", "10.0.0.9"); lode.ErrorCode(err) != lode.EOverloaded {
		t.Fatalf("after 10 failures: %v", err)
	}
	// ... but not from another address.
	if _, err := s.Login(ctx, "alice", "alice's password", "10.0.0.1"); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	now = now.Add(5 * time.Minute)
	if _, err := s.Login(ctx, "alice", "alice's password", "10.0.0.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// BenchmarkLoginCached measures signing in with a username and password
// verified moments ago, as every request of a client sending HTTP Basic
// does: no hash, and nothing read from the store.
func BenchmarkLoginCached(b *testing.B) {
	ctx := context.Background()
	s, _ := newService(b, auth.Read)
	if _, err := s.CreateUser(ctx, "alice", "alice's password", false); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Login(ctx, "alice", "alice's password", "test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Login(ctx, "alice", "alice's password", "test"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCached measures the same for a token.
func BenchmarkAuthenticateCached(b *testing.B) {
	ctx := context.Background()
	s, _ := newService(b, auth.Read)
	u, err := s.CreateUser(ctx, "alice", "alice's password", false)
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := s.CreateToken(ctx, u, "bench", auth.TokenAPI, 0, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Authenticate(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}
