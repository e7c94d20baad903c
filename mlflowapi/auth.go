package mlflowapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
)

// The users, permissions and roles APIs of MLflow's basic-auth app, as the
// mlflow client's AuthServiceClient calls them (3.x under /api/3.0 for
// permissions and roles, users under /api/2.0; 2.x's per-experiment and
// per-model permission APIs under /api/2.0), and Lode's tokens API:
//
//	POST   /api/2.0/lode/tokens/create  {name, expires_in_days, username}  → {token, secret}
//	GET    /api/2.0/lode/tokens/list?username=U                            → {tokens}
//	POST   /api/2.0/lode/tokens/revoke  {id}                               → {}
//
// Each answers 200 with a JSON object ({} when there is nothing to say),
// as MLflow's do; the 2.x client refuses anything else. A job's token may
// call none of them: what a job can do is what its submitter can do with
// runs and models, not make more credentials.

// wUser is a user as both clients read it: 3.x reads id, username and
// is_admin; 2.x also requires the two lists of the user's own grants.
type wUser struct {
	ID                         int64              `json:"id"`
	Username                   string             `json:"username"`
	IsAdmin                    bool               `json:"is_admin"`
	ExperimentPermissions      []wExperimentPerm  `json:"experiment_permissions"`
	RegisteredModelPermissions []wModelPermission `json:"registered_model_permissions"`
}

type wExperimentPerm struct {
	ExperimentID string `json:"experiment_id"`
	UserID       int64  `json:"user_id"`
	Permission   string `json:"permission"`
}

type wModelPermission struct {
	Name       string `json:"name"`
	UserID     int64  `json:"user_id"`
	Permission string `json:"permission"`
}

type wRolePermission struct {
	ID              int64  `json:"id"`
	RoleID          int64  `json:"role_id"`
	ResourceType    string `json:"resource_type"`
	ResourcePattern string `json:"resource_pattern"`
	Permission      string `json:"permission"`
}

type wRole struct {
	ID          int64             `json:"id"`
	Workspace   string            `json:"workspace"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Permissions []wRolePermission `json:"permissions"`
}

type wAssignment struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	RoleID int64 `json:"role_id"`
}

func rolePermOut(p auth.RolePermission) wRolePermission {
	return wRolePermission{ID: p.ID, RoleID: p.RoleID, ResourceType: string(p.Type), ResourcePattern: p.Pattern, Permission: string(p.Permission)}
}

func roleOut(r *auth.Role) wRole {
	out := wRole{ID: r.ID, Workspace: r.Workspace, Name: r.Name, Description: r.Description, Permissions: []wRolePermission{}}
	for _, p := range r.Permissions {
		out.Permissions = append(out.Permissions, rolePermOut(p))
	}
	return out
}

func rolesOut(rs []*auth.Role) []wRole {
	out := make([]wRole, len(rs))
	for i, r := range rs {
		out[i] = roleOut(r)
	}
	return out
}

func (s *Server) userOut(ctx context.Context, u *auth.User) (wUser, error) {
	out := wUser{ID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin,
		ExperimentPermissions: []wExperimentPerm{}, RegisteredModelPermissions: []wModelPermission{}}
	gs, err := s.Auth.OwnGrants(ctx, u.ID)
	if err != nil {
		return out, err
	}
	for _, g := range gs {
		switch g.Type {
		case auth.Experiment:
			out.ExperimentPermissions = append(out.ExperimentPermissions, wExperimentPerm{g.Pattern, u.ID, string(g.Permission)})
		case auth.RegisteredModel:
			out.RegisteredModelPermissions = append(out.RegisteredModelPermissions, wModelPermission{g.Pattern, u.ID, string(g.Permission)})
		}
	}
	return out, nil
}

// idParam reads a role or role-permission id, which clients send as a
// number or as a string of digits.
func idParam(name string, v jstr) (int64, error) {
	if v == "" {
		return 0, lode.Invalid(lode.MsgMissing, name)
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, lode.Errorf(lode.EInvalid, "Parameter '%s' must be an integer. Got: '%s'", name, v)
	}
	return n, nil
}

// decodeUsername reads a request that names a user and nothing else.
func (s *Server) decodeUsername(r *http.Request) (string, error) {
	var req struct {
		Username string `json:"username"`
	}
	if err := s.decode(r, &req); err != nil {
		return "", err
	}
	return req.Username, required("username", req.Username)
}

// grantReq names a user's grant on one resource.
type grantReq struct {
	Username     string `json:"username"`
	ResourceType string `json:"resource_type"`
	ResourceID   jstr   `json:"resource_id"`
	Permission   string `json:"permission"`
}

// check validates a grant request as MLflow 3 does: the user first, then
// the type (not workspace: those are the role API's), then the level.
func (s *Server) checkGrant(ctx context.Context, req *grantReq, withPermission bool) (auth.ResourceType, auth.Permission, error) {
	for _, f := range []struct{ name, v string }{{"username", req.Username}, {"resource_type", req.ResourceType}, {"resource_id", string(req.ResourceID)}} {
		if err := required(f.name, f.v); err != nil {
			return "", "", err
		}
	}
	if withPermission {
		if err := required("permission", req.Permission); err != nil {
			return "", "", err
		}
	}
	if _, err := s.Auth.User(ctx, req.Username); err != nil {
		return "", "", err
	}
	if req.ResourceType == string(auth.Workspace) {
		return "", "", lode.Errorf(lode.EInvalid, "resource_type 'workspace' is not supported by the per-user permission convenience APIs. Use the role APIs for workspace-wide grants.")
	}
	t, err := auth.ParseResourceType(req.ResourceType)
	if err != nil {
		return "", "", err
	}
	if t == auth.Experiment && req.ResourceID != auth.Wildcard {
		// Grants name experiments as the store does ("01" is 1).
		c, ok := CanonicalExperimentID(string(req.ResourceID))
		if !ok {
			return "", "", lode.Errorf(lode.EInvalid, "Invalid experiment id '%s' for resource_id: an experiment's id is a number, or '*' for all.", req.ResourceID)
		}
		req.ResourceID = jstr(c)
	}
	if !withPermission {
		return t, "", nil
	}
	p := auth.Permission(req.Permission)
	if err := auth.CheckGrant(t, string(req.ResourceID), p); err != nil {
		return "", "", err
	}
	return t, p, nil
}

// legacyPermission checks a permission of MLflow 2's per-resource APIs
// (which also know NO_PERMISSIONS).
func legacyPermission(p string) (auth.Permission, error) {
	if err := required("permission", p); err != nil {
		return "", err
	}
	return auth.ParsePermission(p)
}

// handleAccount registers fn for an account route: under /api/ and
// /ajax-api/ of the given API version, refused to job tokens.
func (s *Server) handleAccount(version, method, path string, rule Rule, fn apiFunc) {
	guarded := func(ctx context.Context, r *http.Request) (any, error) {
		if job := auth.FromContext(ctx).Job(); job != "" {
			return nil, auth.Denied("a job's token cannot manage users, permissions or tokens.")
		}
		return fn(ctx, r)
	}
	s.handleUnder([]string{"/api/" + version + "/", "/ajax-api/" + version + "/"}, method, path, rule, guarded)
}

func (s *Server) routeAuth() {
	a := s.Auth
	ok := func(err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return empty{}, nil
	}
	userResp := func(ctx context.Context, u *auth.User, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		out, err := s.userOut(ctx, u)
		if err != nil {
			return nil, err
		}
		return map[string]any{"user": out}, nil
	}

	// Users.
	s.handleAccount("2.0", "POST", "mlflow/users/create", AdminRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if req.Username == nil {
			return nil, required("username", "")
		}
		if req.Password == nil {
			return nil, required("password", "")
		}
		u, err := a.CreateUser(ctx, *req.Username, *req.Password, false)
		return userResp(ctx, u, err)
	})
	s.handleAccount("2.0", "GET", "mlflow/users/get", SelfRule("username"), func(ctx context.Context, r *http.Request) (any, error) {
		name, err := s.decodeUsername(r)
		if err != nil {
			return nil, err
		}
		u, err := a.User(ctx, name)
		return userResp(ctx, u, err)
	})
	s.handleAccount("2.0", "GET", "mlflow/users/current", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		id := auth.FromContext(ctx)
		if id.User == nil {
			return nil, lode.Errorf(lode.ENotFound, "This server runs without authentication: there is no current user.")
		}
		out, err := s.userOut(ctx, id.User)
		if err != nil {
			return nil, err
		}
		return map[string]any{"user": out, "is_basic_auth": true}, nil
	})
	s.handleAccount("2.0", "GET", "mlflow/users/list", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		id := auth.FromContext(ctx)
		us, err := a.Store.ListUsers(ctx)
		if err != nil {
			return nil, err
		}
		type listed struct {
			ID       int64   `json:"id"`
			Username string  `json:"username"`
			IsAdmin  bool    `json:"is_admin"`
			Roles    []wRole `json:"roles"`
		}
		out := make([]listed, 0, len(us))
		for _, u := range us {
			l := listed{ID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin, Roles: []wRole{}}
			// Others' roles are the admins' to see.
			if id.Admin() || u.Username == id.Name() {
				rs, err := a.Store.ListUserRoles(ctx, u.ID)
				if err != nil {
					return nil, err
				}
				l.Roles = rolesOut(rs)
			}
			out = append(out, l)
		}
		return map[string]any{"users": out}, nil
	})
	s.handleAccount("2.0", "PATCH", "mlflow/users/update-password", SelfRule("username"), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Username        string  `json:"username"`
			Password        string  `json:"password"`
			CurrentPassword *string `json:"current_password"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("username", req.Username); err != nil {
			return nil, err
		}
		if err := required("password", req.Password); err != nil {
			return nil, err
		}
		return ok(a.SetPassword(ctx, auth.FromContext(ctx), req.Username, req.Password, req.CurrentPassword))
	})
	s.handleAccount("2.0", "PATCH", "mlflow/users/update-admin", AdminRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Username string `json:"username"`
			IsAdmin  *jbool `json:"is_admin"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("username", req.Username); err != nil {
			return nil, err
		}
		if req.IsAdmin == nil {
			return nil, required("is_admin", "")
		}
		return ok(a.SetAdmin(ctx, req.Username, bool(*req.IsAdmin)))
	})
	s.handleAccount("2.0", "DELETE", "mlflow/users/delete", AdminRule(), func(ctx context.Context, r *http.Request) (any, error) {
		name, err := s.decodeUsername(r)
		if err != nil {
			return nil, err
		}
		return ok(a.DeleteUser(ctx, auth.FromContext(ctx), name))
	})

	// A user's permissions, as MLflow 3 lists them: one row per grant of
	// every role they hold, their own role's included.
	permissionsOf := func(ctx context.Context, u *auth.User) (any, error) {
		rs, err := a.Store.ListUserRoles(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		type row struct {
			Permission      string `json:"permission"`
			ResourcePattern string `json:"resource_pattern"`
			ResourceType    string `json:"resource_type"`
			RoleID          int64  `json:"role_id"`
			RoleName        string `json:"role_name"`
			Workspace       string `json:"workspace"`
		}
		out := []row{}
		for _, r := range rs {
			for _, p := range r.Permissions {
				out = append(out, row{string(p.Permission), p.Pattern, string(p.Type), r.ID, r.Name, r.Workspace})
			}
		}
		return map[string]any{"is_admin": u.IsAdmin, "permissions": out}, nil
	}
	s.handleAccount("3.0", "GET", "mlflow/users/current/permissions", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		id := auth.FromContext(ctx)
		if id.User == nil {
			return map[string]any{"is_admin": true, "permissions": []any{}}, nil
		}
		return permissionsOf(ctx, id.User)
	})
	s.handleAccount("3.0", "GET", "mlflow/users/permissions/list", SelfRule("username"), func(ctx context.Context, r *http.Request) (any, error) {
		name, err := s.decodeUsername(r)
		if err != nil {
			return nil, err
		}
		u, err := a.User(ctx, name)
		if err != nil {
			return nil, err
		}
		return permissionsOf(ctx, u)
	})
	grantRule := On(TargetGrant, auth.NeedManage, "resource_type", "resource_id")
	s.handleAccount("3.0", "POST", "mlflow/users/permissions/grant", grantRule, func(ctx context.Context, r *http.Request) (any, error) {
		var req grantReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		t, p, err := s.checkGrant(ctx, &req, true)
		if err != nil {
			return nil, err
		}
		return ok(a.Grant(ctx, req.Username, t, string(req.ResourceID), p, false))
	})
	s.handleAccount("3.0", "POST", "mlflow/users/permissions/revoke", grantRule, func(ctx context.Context, r *http.Request) (any, error) {
		var req grantReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		t, _, err := s.checkGrant(ctx, &req, false)
		if err != nil {
			return nil, err
		}
		return ok(a.Revoke(ctx, req.Username, t, string(req.ResourceID)))
	})
	s.handleAccount("3.0", "GET", "mlflow/users/permissions/get", SelfRule("username"), func(ctx context.Context, r *http.Request) (any, error) {
		var req grantReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		t, _, err := s.checkGrant(ctx, &req, false)
		if err != nil {
			return nil, err
		}
		u, err := a.User(ctx, req.Username)
		if err != nil {
			return nil, err
		}
		// The effective permission, as a request would see it; admins are
		// not special here (MLflow's get resolves grants only).
		p, err := a.Permission(ctx, &auth.Identity{User: &auth.User{ID: u.ID, Username: u.Username}}, t, string(req.ResourceID))
		if err != nil {
			return nil, err
		}
		return map[string]any{"allowed": p.Allows(auth.NeedUse), "permission": string(p)}, nil
	})

	// MLflow 2's per-experiment and per-model permission APIs.
	type legacyReq struct {
		ExperimentID jstr   `json:"experiment_id"`
		Name         string `json:"name"`
		Username     string `json:"username"`
		Permission   string `json:"permission"`
	}
	legacy := []struct {
		path, key, label string
		t                auth.ResourceType
		rule             Rule
		id               func(legacyReq) string
		out              func(id string, userID int64, p auth.Permission) any
	}{
		{"experiments", "experiment_permission", "Experiment permission with experiment_id=%s", auth.Experiment,
			On(TargetExperiment, auth.NeedManage, "experiment_id"), func(q legacyReq) string {
				// Grants name experiments as the store does ("01" is 1).
				if c, ok := CanonicalExperimentID(string(q.ExperimentID)); ok {
					return c
				}
				return string(q.ExperimentID)
			},
			func(id string, uid int64, p auth.Permission) any { return wExperimentPerm{id, uid, string(p)} }},
		{"registered-models", "registered_model_permission", "Registered model permission with name=%s", auth.RegisteredModel,
			On(TargetModel, auth.NeedManage, "name"), func(q legacyReq) string { return q.Name },
			func(id string, uid int64, p auth.Permission) any { return wModelPermission{id, uid, string(p)} }},
	}
	for _, l := range legacy {
		idField := map[auth.ResourceType]string{auth.Experiment: "experiment_id", auth.RegisteredModel: "name"}[l.t]
		decode := func(r *http.Request, withPermission bool) (legacyReq, auth.Permission, error) {
			var req legacyReq
			if err := s.decode(r, &req); err != nil {
				return req, "", err
			}
			if err := required(idField, l.id(req)); err != nil {
				return req, "", err
			}
			if err := required("username", req.Username); err != nil {
				return req, "", err
			}
			var p auth.Permission
			if withPermission {
				var err error
				if p, err = legacyPermission(req.Permission); err != nil {
					return req, "", err
				}
			}
			return req, p, nil
		}
		missing := func(req legacyReq, err error) error {
			if lode.ErrorCode(err) == lode.ENotFound {
				if _, uerr := a.User(context.Background(), req.Username); uerr != nil {
					return uerr
				}
				return lode.Errorf(lode.ENotFound, l.label+" and username=%s not found", l.id(req), req.Username)
			}
			return err
		}
		s.handleAccount("2.0", "POST", "mlflow/"+l.path+"/permissions/create", l.rule, func(ctx context.Context, r *http.Request) (any, error) {
			req, p, err := decode(r, true)
			if err != nil {
				return nil, err
			}
			u, err := a.User(ctx, req.Username)
			if err != nil {
				return nil, err
			}
			if err := a.Grant(ctx, req.Username, l.t, l.id(req), p, false); err != nil {
				if lode.ErrorCode(err) == lode.EExists {
					err = lode.Errorf(lode.EExists, "%s (%s=%s, username=%s) already exists.",
						map[auth.ResourceType]string{auth.Experiment: "Experiment permission", auth.RegisteredModel: "Registered model permission"}[l.t],
						idField, l.id(req), req.Username)
				}
				return nil, err
			}
			return map[string]any{l.key: l.out(l.id(req), u.ID, p)}, nil
		})
		s.handleAccount("2.0", "GET", "mlflow/"+l.path+"/permissions/get", l.rule, func(ctx context.Context, r *http.Request) (any, error) {
			req, _, err := decode(r, false)
			if err != nil {
				return nil, err
			}
			u, g, err := a.OwnGrant(ctx, req.Username, l.t, l.id(req))
			if err != nil {
				return nil, missing(req, err)
			}
			return map[string]any{l.key: l.out(l.id(req), u.ID, g.Permission)}, nil
		})
		s.handleAccount("2.0", "PATCH", "mlflow/"+l.path+"/permissions/update", l.rule, func(ctx context.Context, r *http.Request) (any, error) {
			req, p, err := decode(r, true)
			if err != nil {
				return nil, err
			}
			if _, _, err := a.OwnGrant(ctx, req.Username, l.t, l.id(req)); err != nil {
				return nil, missing(req, err)
			}
			return ok(a.Grant(ctx, req.Username, l.t, l.id(req), p, true))
		})
		s.handleAccount("2.0", "DELETE", "mlflow/"+l.path+"/permissions/delete", l.rule, func(ctx context.Context, r *http.Request) (any, error) {
			req, _, err := decode(r, false)
			if err != nil {
				return nil, err
			}
			if err := a.Revoke(ctx, req.Username, l.t, l.id(req)); err != nil {
				return nil, missing(req, err)
			}
			return empty{}, nil
		})
	}

	// Roles (MLflow 3). Roles are the admins' to manage.
	type roleReq struct {
		RoleID           jstr    `json:"role_id"`
		RolePermissionID jstr    `json:"role_permission_id"`
		Workspace        *string `json:"workspace"`
		Name             *string `json:"name"`
		Description      *string `json:"description"`
		ResourceType     string  `json:"resource_type"`
		ResourcePattern  jstr    `json:"resource_pattern"`
		Permission       string  `json:"permission"`
		Username         string  `json:"username"`
	}
	role := func(method, path string, rule Rule, fn func(ctx context.Context, req roleReq) (any, error)) {
		s.handleAccount("3.0", method, "mlflow/"+path, rule, func(ctx context.Context, r *http.Request) (any, error) {
			var req roleReq
			if err := s.decode(r, &req); err != nil {
				return nil, err
			}
			return fn(ctx, req)
		})
	}
	// withID registers a role route whose request names a role (field
	// role_id) or a role permission (role_permission_id) first of all.
	withID := func(method, path, field string, fn func(ctx context.Context, id int64, req roleReq) (any, error)) {
		role(method, path, AdminRule(), func(ctx context.Context, req roleReq) (any, error) {
			v := req.RoleID
			if field == "role_permission_id" {
				v = req.RolePermissionID
			}
			id, err := idParam(field, v)
			if err != nil {
				return nil, err
			}
			return fn(ctx, id, req)
		})
	}
	roleResp := func(r *auth.Role, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return map[string]any{"role": roleOut(r)}, nil
	}
	permResp := func(p *auth.RolePermission, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return map[string]any{"role_permission": rolePermOut(*p)}, nil
	}
	role("POST", "roles/create", AdminRule(), func(ctx context.Context, req roleReq) (any, error) {
		if req.Workspace == nil {
			return nil, required("workspace", "")
		}
		if req.Name == nil {
			return nil, required("name", "")
		}
		return roleResp(a.CreateRole(ctx, *req.Workspace, *req.Name, req.Description))
	})
	withID("GET", "roles/get", "role_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		return roleResp(a.Role(ctx, id))
	})
	s.handleAccount("3.0", "GET", "mlflow/roles/list", AdminRule(), func(ctx context.Context, r *http.Request) (any, error) {
		q, err := query(r)
		if err != nil {
			return nil, err
		}
		for _, w := range q["workspace"] {
			if w == "" {
				return nil, lode.Errorf(lode.EInvalid, "Parameter 'workspace' must be a non-empty string when provided.")
			}
		}
		rs, err := a.Store.ListRoles(ctx, q["workspace"])
		if err != nil {
			return nil, err
		}
		return map[string]any{"roles": rolesOut(rs)}, nil
	})
	withID("PATCH", "roles/update", "role_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		return roleResp(a.UpdateRole(ctx, id, req.Name, req.Description))
	})
	withID("DELETE", "roles/delete", "role_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		return ok(a.DeleteRole(ctx, id))
	})
	withID("POST", "roles/permissions/add", "role_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		for _, f := range []struct{ name, v string }{{"resource_type", req.ResourceType}, {"resource_pattern", string(req.ResourcePattern)}, {"permission", req.Permission}} {
			if err := required(f.name, f.v); err != nil {
				return nil, err
			}
		}
		if _, err := auth.ParsePermission(req.Permission); err != nil {
			return nil, err
		}
		t, err := auth.ParseResourceType(req.ResourceType)
		if err != nil {
			return nil, err
		}
		return permResp(a.AddRolePermission(ctx, auth.RolePermission{RoleID: id, Type: t, Pattern: string(req.ResourcePattern), Permission: auth.Permission(req.Permission)}))
	})
	withID("DELETE", "roles/permissions/remove", "role_permission_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		return ok(a.RemoveRolePermission(ctx, id))
	})
	withID("GET", "roles/permissions/list", "role_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		r, err := a.Role(ctx, id)
		if err != nil {
			return nil, err
		}
		return map[string]any{"role_permissions": roleOut(r).Permissions}, nil
	})
	withID("PATCH", "roles/permissions/update", "role_permission_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		if err := required("permission", req.Permission); err != nil {
			return nil, err
		}
		return permResp(a.UpdateRolePermission(ctx, id, auth.Permission(req.Permission)))
	})
	role("POST", "roles/assign", AdminRule(), func(ctx context.Context, req roleReq) (any, error) {
		if err := required("username", req.Username); err != nil {
			return nil, err
		}
		id, err := idParam("role_id", req.RoleID)
		if err != nil {
			return nil, err
		}
		x, err := a.AssignRole(ctx, req.Username, id)
		if err != nil {
			return nil, err
		}
		return map[string]any{"assignment": wAssignment{x.ID, x.UserID, x.RoleID}}, nil
	})
	role("DELETE", "roles/unassign", AdminRule(), func(ctx context.Context, req roleReq) (any, error) {
		if err := required("username", req.Username); err != nil {
			return nil, err
		}
		id, err := idParam("role_id", req.RoleID)
		if err != nil {
			return nil, err
		}
		return ok(a.UnassignRole(ctx, req.Username, id))
	})
	role("GET", "users/roles/list", SelfRule("username"), func(ctx context.Context, req roleReq) (any, error) {
		if err := required("username", req.Username); err != nil {
			return nil, err
		}
		u, err := a.User(ctx, req.Username)
		if err != nil {
			return nil, err
		}
		rs, err := a.Store.ListUserRoles(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"roles": rolesOut(rs)}, nil
	})
	withID("GET", "roles/users/list", "role_id", func(ctx context.Context, id int64, req roleReq) (any, error) {
		if _, err := a.Role(ctx, id); err != nil {
			return nil, err
		}
		as, err := a.Store.ListRoleUsers(ctx, id)
		if err != nil {
			return nil, err
		}
		out := make([]wAssignment, len(as))
		for i, x := range as {
			out[i] = wAssignment{x.ID, x.UserID, x.RoleID}
		}
		return map[string]any{"assignments": out}, nil
	})

	s.routeTokens()
}

// DefaultTokenDays is how long a token lives when its maker does not say.
const DefaultTokenDays = 90

// childTokenTTL is how long a token asked to live ttl (0: for ever) may
// live when the caller signed in with parent (nil for Basic). A token made
// with an API token expires no later than that token: else a short-lived
// or stolen token would turn into a permanent one, which outlives the
// victim's revoking it. A session or a password proves more and may make
// any (the account page's flow); a job's token makes none (handleAccount).
func childTokenTTL(parent *auth.Token, ttl time.Duration, now func() time.Time) (time.Duration, error) {
	if parent == nil || parent.Kind != auth.TokenAPI || parent.ExpiresMs == 0 {
		return ttl, nil
	}
	t := time.Now()
	if now != nil {
		t = now()
	}
	left := time.UnixMilli(parent.ExpiresMs).Sub(t)
	if left <= 0 {
		// 0 would mean "never": an expired parent makes nothing.
		return 0, lode.Errorf(lode.EUnauthenticated, "The token this request was made with has expired.")
	}
	if ttl == 0 || ttl > left {
		ttl = left
	}
	return ttl, nil
}

// routeTokens serves Lode's tokens API.
func (s *Server) routeTokens() {
	a := s.Auth
	tokenOut := func(t *auth.Token) Token {
		return Token{ID: t.ID, Name: t.Name, Username: t.Username, Kind: string(t.Kind), CreatedMs: t.CreatedMs,
			ExpiresMs: t.ExpiresMs, LastUsedMs: t.LastUsedMs, JobID: t.JobID}
	}
	// owner is the user a token request is about: the caller, or (for
	// admins) the user it names.
	owner := func(ctx context.Context, username string) (*auth.User, error) {
		id := auth.FromContext(ctx)
		if id.User == nil {
			return nil, lode.Errorf(lode.EInvalid, "This server runs without authentication: tokens need users.")
		}
		if username == "" || username == id.Name() {
			return id.User, nil
		}
		if !id.Admin() {
			return nil, auth.Denied("only admins may manage other users' tokens.")
		}
		return a.User(ctx, username)
	}
	s.handleAccount("2.0", "POST", "lode/tokens/create", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name          string `json:"name"`
			ExpiresInDays *jint  `json:"expires_in_days"`
			Username      string `json:"username"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		u, err := owner(ctx, req.Username)
		if err != nil {
			return nil, err
		}
		days := int64(DefaultTokenDays)
		if req.ExpiresInDays != nil {
			days = req.ExpiresInDays.V
		}
		if days < 0 || days > int64(auth.MaxTokenTTL/(24*time.Hour)) {
			return nil, lode.Errorf(lode.EInvalid, "Invalid value %d for parameter 'expires_in_days': it must be between 0 (no expiry) and %d.", days, int64(auth.MaxTokenTTL/(24*time.Hour)))
		}
		ttl, err := childTokenTTL(auth.FromContext(ctx).Token, time.Duration(days)*24*time.Hour, a.Now)
		if err != nil {
			return nil, err
		}
		secret, t, err := a.CreateToken(ctx, u, req.Name, auth.TokenAPI, ttl, "")
		if err != nil {
			return nil, err
		}
		return map[string]any{"token": tokenOut(t), "secret": secret}, nil
	})
	s.handleAccount("2.0", "GET", "lode/tokens/list", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Username string `json:"username"`
			All      jbool  `json:"all"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		var userID int64
		if req.All {
			if !auth.FromContext(ctx).Admin() {
				return nil, auth.Denied("only admins may list every user's tokens.")
			}
		} else {
			u, err := owner(ctx, req.Username)
			if err != nil {
				return nil, err
			}
			userID = u.ID
		}
		ts, err := a.Store.ListTokens(ctx, userID, auth.TokenAPI, auth.TokenJob)
		if err != nil {
			return nil, err
		}
		out := make([]Token, len(ts))
		for i, t := range ts {
			out[i] = tokenOut(t)
		}
		return map[string]any{"tokens": out}, nil
	})
	s.handleAccount("2.0", "POST", "lode/tokens/revoke", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			ID string `json:"id"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := required("id", req.ID); err != nil {
			return nil, err
		}
		if err := a.RevokeToken(ctx, auth.FromContext(ctx), req.ID); err != nil {
			return nil, err
		}
		return empty{}, nil
	})
}
