// Package authtest is the behavioural suite every auth.Store passes (the
// SQLite and the PostgreSQL store):
//
//	func TestAuth(t *testing.T) {
//		authtest.Run(t, func(t *testing.T) auth.Store { ... a fresh, empty store ... })
//	}
//
// What it holds a store to:
//
//   - Users get increasing ids; a duplicate username is EExists, an
//     unknown one (or id) ENotFound; password hashes and the admin flag
//     change in place; deleting a user deletes their own __user_<id>__
//     role, their role assignments and their tokens.
//   - Roles are unique by (workspace, name) and come with their
//     permissions; deleting one deletes its permissions and assignments.
//   - Role permissions are unique by (role, type, pattern); one naming a
//     missing role is ENotFound.
//   - Assignments are unique by (user, role).
//   - UserGrants returns the permissions of the user's roles in one
//     workspace only.
//   - RenameGrants and DeleteGrants touch users' own roles only.
//   - Tokens are found by hash and by id (with their user's name), listed by user and kind newest
//     first, deleted one at a time, by job, or when expired.
//   - Concurrent adds of one role permission let exactly one through.
package authtest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
)

// Run runs the suite; newStore returns a fresh, empty store and registers
// its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) auth.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s auth.Store)
	}{
		{"Users", testUsers},
		{"DeleteUserCascades", testDeleteUser},
		{"Roles", testRoles},
		{"RolePermissions", testRolePermissions},
		{"Assignments", testAssignments},
		{"UserGrants", testUserGrants},
		{"RenameAndDeleteGrants", testRenameGrants},
		{"Tokens", testTokens},
		{"ConcurrentGrants", testConcurrentGrants},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func code(t *testing.T, err error, want string) {
	t.Helper()
	if got := lode.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func user(t *testing.T, s auth.Store, name string) *auth.User {
	t.Helper()
	return must[*auth.User](t)(s.CreateUser(context.Background(), auth.User{Username: name, PasswordHash: "h-" + name, CreatedMs: 1}))
}

func testUsers(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a := user(t, s, "alice")
	b := user(t, s, "bob")
	if a.ID == 0 || b.ID <= a.ID {
		t.Fatalf("ids %d, %d: want increasing from 1", a.ID, b.ID)
	}
	_, err := s.CreateUser(ctx, auth.User{Username: "alice", PasswordHash: "x"})
	code(t, err, lode.EExists)
	got := must[*auth.User](t)(s.GetUser(ctx, "alice"))
	if *got != *a {
		t.Fatalf("GetUser = %+v, want %+v", got, a)
	}
	got = must[*auth.User](t)(s.GetUserByID(ctx, b.ID))
	if got.Username != "bob" || got.PasswordHash != "h-bob" || got.IsAdmin {
		t.Fatalf("GetUserByID = %+v", got)
	}
	_, err = s.GetUser(ctx, "carol")
	code(t, err, lode.ENotFound)
	_, err = s.GetUserByID(ctx, 999)
	code(t, err, lode.ENotFound)
	if err := s.SetAdmin(ctx, b.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash(ctx, b.ID, "new"); err != nil {
		t.Fatal(err)
	}
	got = must[*auth.User](t)(s.GetUser(ctx, "bob"))
	if !got.IsAdmin || got.PasswordHash != "new" {
		t.Fatalf("after updates: %+v", got)
	}
	code(t, s.SetAdmin(ctx, 999, true), lode.ENotFound)
	code(t, s.SetPasswordHash(ctx, 999, "x"), lode.ENotFound)
	us := must[[]*auth.User](t)(s.ListUsers(ctx))
	if len(us) != 2 || us[0].Username != "alice" || us[1].Username != "bob" {
		t.Fatalf("ListUsers = %v", us)
	}
	if n := must[int](t)(s.CountUsers(ctx)); n != 2 {
		t.Fatalf("CountUsers = %d", n)
	}
}

func testDeleteUser(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a := user(t, s, "alice")
	b := user(t, s, "bob")
	own := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: auth.DefaultWorkspace, Name: auth.OwnRoleName(a.ID)}))
	shared := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: auth.DefaultWorkspace, Name: "readers"}))
	for _, r := range []*auth.Role{own, shared} {
		must[*auth.Assignment](t)(s.AssignRole(ctx, a.ID, r.ID))
	}
	must[*auth.Assignment](t)(s.AssignRole(ctx, b.ID, shared.ID))
	must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: own.ID, Type: auth.Experiment, Pattern: "1", Permission: auth.Manage}))
	if err := s.CreateToken(ctx, auth.Token{ID: "t1", UserID: a.ID, Kind: auth.TokenAPI, Hash: "h1", CreatedMs: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	code(t, s.DeleteUser(ctx, a.ID), lode.ENotFound)
	_, err := s.GetRole(ctx, own.ID)
	code(t, err, lode.ENotFound)
	if us := must[[]*auth.Assignment](t)(s.ListRoleUsers(ctx, shared.ID)); len(us) != 1 || us[0].UserID != b.ID {
		t.Fatalf("readers after deleting alice: %+v", us)
	}
	_, err = s.GetToken(ctx, "h1")
	code(t, err, lode.ENotFound)
}

func testRoles(t *testing.T, s auth.Store) {
	ctx := context.Background()
	desc := "can read"
	r := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "readers", Description: &desc}))
	if r.ID == 0 || r.Permissions == nil {
		t.Fatalf("CreateRole = %+v", r)
	}
	_, err := s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "readers"})
	code(t, err, lode.EExists)
	other := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "team-b", Name: "readers"}))
	got := must[*auth.Role](t)(s.GetRole(ctx, r.ID))
	if got.Name != "readers" || got.Workspace != "default" || got.Description == nil || *got.Description != desc {
		t.Fatalf("GetRole = %+v", got)
	}
	got = must[*auth.Role](t)(s.GetRoleByName(ctx, "team-b", "readers"))
	if got.ID != other.ID || got.Description != nil {
		t.Fatalf("GetRoleByName = %+v", got)
	}
	_, err = s.GetRoleByName(ctx, "nowhere", "readers")
	code(t, err, lode.ENotFound)
	_, err = s.GetRole(ctx, 999)
	code(t, err, lode.ENotFound)
	if rs := must[[]*auth.Role](t)(s.ListRoles(ctx, nil)); len(rs) != 2 || rs[0].Workspace != "default" || rs[1].Workspace != "team-b" {
		t.Fatalf("ListRoles(all) = %+v", rs)
	}
	if rs := must[[]*auth.Role](t)(s.ListRoles(ctx, []string{"team-b"})); len(rs) != 1 || rs[0].ID != other.ID {
		t.Fatalf("ListRoles(team-b) = %+v", rs)
	}
	name, d2 := "viewers", "sees"
	got = must[*auth.Role](t)(s.UpdateRole(ctx, r.ID, &name, nil))
	if got.Name != "viewers" || *got.Description != desc {
		t.Fatalf("UpdateRole(name) = %+v", got)
	}
	got = must[*auth.Role](t)(s.UpdateRole(ctx, r.ID, nil, &d2))
	if got.Name != "viewers" || *got.Description != "sees" {
		t.Fatalf("UpdateRole(description) = %+v", got)
	}
	taken := "viewers"
	must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "editors"}))
	editors := must[*auth.Role](t)(s.GetRoleByName(ctx, "default", "editors"))
	_, err = s.UpdateRole(ctx, editors.ID, &taken, nil)
	code(t, err, lode.EExists)
	_, err = s.UpdateRole(ctx, 999, &name, nil)
	code(t, err, lode.ENotFound)
	must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.Experiment, Pattern: "*", Permission: auth.Read}))
	u := user(t, s, "alice")
	must[*auth.Assignment](t)(s.AssignRole(ctx, u.ID, r.ID))
	if err := s.DeleteRole(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	code(t, s.DeleteRole(ctx, r.ID), lode.ENotFound)
	if rs := must[[]*auth.Role](t)(s.ListUserRoles(ctx, u.ID)); len(rs) != 0 {
		t.Fatalf("roles of alice after the delete: %+v", rs)
	}
	if gs := must[[]auth.RolePermission](t)(s.UserGrants(ctx, u.ID, "default")); len(gs) != 0 {
		t.Fatalf("grants after the delete: %+v", gs)
	}
}

func testRolePermissions(t *testing.T, s auth.Store) {
	ctx := context.Background()
	r := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "r"}))
	p := must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.Experiment, Pattern: "7", Permission: auth.Edit}))
	if p.ID == 0 || p.RoleID != r.ID || p.Type != auth.Experiment || p.Pattern != "7" || p.Permission != auth.Edit {
		t.Fatalf("AddRolePermission = %+v", p)
	}
	_, err := s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.Experiment, Pattern: "7", Permission: auth.Read})
	code(t, err, lode.EExists)
	_, err = s.AddRolePermission(ctx, auth.RolePermission{RoleID: 999, Type: auth.Experiment, Pattern: "7", Permission: auth.Read})
	code(t, err, lode.ENotFound)
	q := must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.RegisteredModel, Pattern: "m", Permission: auth.Deny}))
	if got := must[*auth.RolePermission](t)(s.GetRolePermission(ctx, p.ID)); *got != *p {
		t.Fatalf("GetRolePermission = %+v", got)
	}
	if got := must[*auth.RolePermission](t)(s.FindRolePermission(ctx, r.ID, auth.RegisteredModel, "m")); *got != *q {
		t.Fatalf("FindRolePermission = %+v", got)
	}
	_, err = s.FindRolePermission(ctx, r.ID, auth.RegisteredModel, "other")
	code(t, err, lode.ENotFound)
	if got := must[*auth.RolePermission](t)(s.UpdateRolePermission(ctx, p.ID, auth.Manage)); got.Permission != auth.Manage {
		t.Fatalf("UpdateRolePermission = %+v", got)
	}
	_, err = s.UpdateRolePermission(ctx, 999, auth.Manage)
	code(t, err, lode.ENotFound)
	role := must[*auth.Role](t)(s.GetRole(ctx, r.ID))
	if len(role.Permissions) != 2 || role.Permissions[0].Permission != auth.Manage || role.Permissions[1].Pattern != "m" {
		t.Fatalf("role's permissions = %+v", role.Permissions)
	}
	if err := s.RemoveRolePermission(ctx, q.ID); err != nil {
		t.Fatal(err)
	}
	code(t, s.RemoveRolePermission(ctx, q.ID), lode.ENotFound)
	_, err = s.GetRolePermission(ctx, q.ID)
	code(t, err, lode.ENotFound)
}

func testAssignments(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a, b := user(t, s, "alice"), user(t, s, "bob")
	r1 := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "one"}))
	r2 := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "other", Name: "two"}))
	x := must[*auth.Assignment](t)(s.AssignRole(ctx, a.ID, r1.ID))
	if x.ID == 0 || x.UserID != a.ID || x.RoleID != r1.ID {
		t.Fatalf("AssignRole = %+v", x)
	}
	_, err := s.AssignRole(ctx, a.ID, r1.ID)
	code(t, err, lode.EExists)
	_, err = s.AssignRole(ctx, a.ID, 999)
	code(t, err, lode.ENotFound)
	must[*auth.Assignment](t)(s.AssignRole(ctx, a.ID, r2.ID))
	must[*auth.Assignment](t)(s.AssignRole(ctx, b.ID, r1.ID))
	if rs := must[[]*auth.Role](t)(s.ListUserRoles(ctx, a.ID)); len(rs) != 2 || rs[0].Name != "one" || rs[1].Name != "two" {
		t.Fatalf("ListUserRoles = %+v", rs)
	}
	if as := must[[]*auth.Assignment](t)(s.ListRoleUsers(ctx, r1.ID)); len(as) != 2 || as[0].UserID != a.ID || as[1].UserID != b.ID {
		t.Fatalf("ListRoleUsers = %+v", as)
	}
	if err := s.UnassignRole(ctx, a.ID, r1.ID); err != nil {
		t.Fatal(err)
	}
	code(t, s.UnassignRole(ctx, a.ID, r1.ID), lode.ENotFound)
	if rs := must[[]*auth.Role](t)(s.ListUserRoles(ctx, a.ID)); len(rs) != 1 || rs[0].Name != "two" {
		t.Fatalf("ListUserRoles after unassign = %+v", rs)
	}
}

func testUserGrants(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a, b := user(t, s, "alice"), user(t, s, "bob")
	own := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: auth.OwnRoleName(a.ID)}))
	team := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "team"}))
	elsewhere := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "other", Name: "team"}))
	for _, r := range []*auth.Role{own, team, elsewhere} {
		must[*auth.Assignment](t)(s.AssignRole(ctx, a.ID, r.ID))
	}
	add := func(r *auth.Role, typ auth.ResourceType, pat string, p auth.Permission) {
		must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: typ, Pattern: pat, Permission: p}))
	}
	add(own, auth.Experiment, "1", auth.Manage)
	add(team, auth.Experiment, "*", auth.Read)
	add(team, auth.RegisteredModel, "m", auth.Edit)
	add(elsewhere, auth.Experiment, "*", auth.Manage)
	gs := must[[]auth.RolePermission](t)(s.UserGrants(ctx, a.ID, "default"))
	var got []string
	for _, g := range gs {
		got = append(got, fmt.Sprintf("%s/%s=%s", g.Type, g.Pattern, g.Permission))
	}
	want := []string{"experiment/1=MANAGE", "experiment/*=READ", "registered_model/m=EDIT"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("UserGrants(alice) = %v, want %v", got, want)
	}
	if gs := must[[]auth.RolePermission](t)(s.UserGrants(ctx, b.ID, "default")); len(gs) != 0 {
		t.Fatalf("UserGrants(bob) = %+v", gs)
	}
}

func testRenameGrants(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a := user(t, s, "alice")
	own := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: auth.OwnRoleName(a.ID)}))
	team := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "team"}))
	for _, r := range []*auth.Role{own, team} {
		must[*auth.Assignment](t)(s.AssignRole(ctx, a.ID, r.ID))
		must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.RegisteredModel, Pattern: "old", Permission: auth.Manage}))
		must[*auth.RolePermission](t)(s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.Experiment, Pattern: "old", Permission: auth.Read}))
	}
	if err := s.RenameGrants(ctx, auth.RegisteredModel, "old", "new"); err != nil {
		t.Fatal(err)
	}
	patterns := func(r *auth.Role) string {
		var out []string
		for _, p := range must[*auth.Role](t)(s.GetRole(ctx, r.ID)).Permissions {
			out = append(out, string(p.Type)+"/"+p.Pattern)
		}
		return fmt.Sprint(out)
	}
	if got := patterns(own); got != "[registered_model/new experiment/old]" {
		t.Fatalf("own role after rename: %s", got)
	}
	if got := patterns(team); got != "[registered_model/old experiment/old]" {
		t.Fatalf("team role after rename: %s", got)
	}
	if err := s.DeleteGrants(ctx, auth.RegisteredModel, "new"); err != nil {
		t.Fatal(err)
	}
	if got := patterns(own); got != "[experiment/old]" {
		t.Fatalf("own role after delete: %s", got)
	}
	if got := patterns(team); got != "[registered_model/old experiment/old]" {
		t.Fatalf("team role after delete: %s", got)
	}
}

func testTokens(t *testing.T, s auth.Store) {
	ctx := context.Background()
	a, b := user(t, s, "alice"), user(t, s, "bob")
	mk := func(id string, u *auth.User, kind auth.TokenKind, created, expires int64, job string) auth.Token {
		tk := auth.Token{ID: id, UserID: u.ID, Name: "n-" + id, Kind: kind, Hash: "hash-" + id, CreatedMs: created, ExpiresMs: expires, JobID: job}
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
		tk.Username = u.Username // read back with the token
		return tk
	}
	t1 := mk("t1", a, auth.TokenAPI, 10, 0, "")
	mk("t2", a, auth.TokenSession, 20, 100, "")
	mk("t3", a, auth.TokenJob, 30, 1000, "job-1")
	mk("t4", b, auth.TokenJob, 40, 1000, "job-1")
	mk("t5", b, auth.TokenAPI, 50, 0, "")
	code(t, s.CreateToken(ctx, auth.Token{ID: "t1", UserID: a.ID, Kind: auth.TokenAPI, Hash: "other"}), lode.EExists)
	code(t, s.CreateToken(ctx, auth.Token{ID: "t9", UserID: 999, Kind: auth.TokenAPI, Hash: "h9"}), lode.ENotFound)
	if got := must[*auth.Token](t)(s.GetToken(ctx, "hash-t1")); *got != t1 {
		t.Fatalf("GetToken = %+v, want %+v", got, t1)
	}
	if got := must[*auth.Token](t)(s.GetTokenByID(ctx, "t1")); *got != t1 {
		t.Fatalf("GetTokenByID = %+v", got)
	}
	_, err := s.GetToken(ctx, "nope")
	code(t, err, lode.ENotFound)
	ids := func(ts []*auth.Token) string {
		var out []string
		for _, tk := range ts {
			out = append(out, tk.ID)
		}
		return fmt.Sprint(out)
	}
	if got := ids(must[[]*auth.Token](t)(s.ListTokens(ctx, a.ID))); got != "[t3 t2 t1]" {
		t.Fatalf("ListTokens(alice) = %s", got)
	}
	if got := ids(must[[]*auth.Token](t)(s.ListTokens(ctx, 0, auth.TokenAPI))); got != "[t5 t1]" {
		t.Fatalf("ListTokens(all, api) = %s", got)
	}
	if err := s.TouchToken(ctx, "t1", 77); err != nil {
		t.Fatal(err)
	}
	if got := must[*auth.Token](t)(s.GetTokenByID(ctx, "t1")); got.LastUsedMs != 77 {
		t.Fatalf("LastUsedMs = %d", got.LastUsedMs)
	}
	if err := s.DeleteJobTokens(ctx, "job-1"); err != nil {
		t.Fatal(err)
	}
	if n := must[int](t)(s.DeleteExpiredTokens(ctx, 100)); n != 1 {
		t.Fatalf("DeleteExpiredTokens = %d, want 1 (t2)", n)
	}
	if got := ids(must[[]*auth.Token](t)(s.ListTokens(ctx, 0))); got != "[t5 t1]" {
		t.Fatalf("tokens left = %s", got)
	}
	if err := s.DeleteToken(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	code(t, s.DeleteToken(ctx, "t1"), lode.ENotFound)
}

func testConcurrentGrants(t *testing.T, s auth.Store) {
	ctx := context.Background()
	r := must[*auth.Role](t)(s.CreateRole(ctx, auth.Role{Workspace: "default", Name: "r"}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, exists := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddRolePermission(ctx, auth.RolePermission{RoleID: r.ID, Type: auth.Experiment, Pattern: "1", Permission: auth.Read})
			mu.Lock()
			defer mu.Unlock()
			switch lode.ErrorCode(err) {
			case "":
				ok++
			case lode.EExists:
				exists++
			default:
				t.Errorf("AddRolePermission: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || exists != 7 {
		t.Fatalf("%d added, %d EExists; want 1 and 7", ok, exists)
	}
}
