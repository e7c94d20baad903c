package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
)

var _ auth.Store = (*Store)(nil)

const userCols = `id, username, password_hash, is_admin, created_ms`

func scanUser(row interface{ Scan(...any) error }) (*auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.IsAdmin, &u.CreatedMs)
	return &u, err
}

func userNotFound(what string) error {
	return lode.Errorf(lode.ENotFound, "User with %s not found", what)
}

// CreateUser implements auth.Store.
func (db *Store) CreateUser(ctx context.Context, u auth.User) (*auth.User, error) {
	err := db.w.QueryRow(ctx, `INSERT INTO users (username, password_hash, is_admin, created_ms) VALUES (?, ?, ?, ?) RETURNING id`,
		u.Username, u.PasswordHash, u.IsAdmin, u.CreatedMs).Scan(&u.ID)
	if db.isUnique(err) {
		return nil, lode.Errorf(lode.EExists, "User (username=%s) already exists.", u.Username)
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	return &u, nil
}

// GetUser implements auth.Store.
func (db *Store) GetUser(ctx context.Context, username string) (*auth.User, error) {
	u, err := scanUser(db.r.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, userNotFound("username=" + username)
	}
	return u, db.dbErr(err)
}

// GetUserByID implements auth.Store.
func (db *Store) GetUserByID(ctx context.Context, id int64) (*auth.User, error) {
	u, err := scanUser(db.r.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, lode.Errorf(lode.ENotFound, "User with id=%d not found", id)
	}
	return u, db.dbErr(err)
}

// ListUsers implements auth.Store.
func (db *Store) ListUsers(ctx context.Context) ([]*auth.User, error) {
	out, err := queryAll(ctx, db.r, `SELECT `+userCols+` FROM users ORDER BY username`, nil, func(rows Rows) (*auth.User, error) { return scanUser(rows) })
	return out, db.dbErr(err)
}

// CountUsers implements auth.Store.
func (db *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, db.dbErr(err)
}

// updateOne runs a statement that must change exactly one row.
func (db *Store) updateOne(ctx context.Context, missing error, query string, args ...any) error {
	res, err := db.w.Exec(ctx, query, args...)
	if err != nil {
		return db.dbErr(err)
	}
	if affected(res) == 0 {
		return missing
	}
	return nil
}

// SetPasswordHash implements auth.Store.
func (db *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return db.updateOne(ctx, lode.Errorf(lode.ENotFound, "User with id=%d not found", userID),
		`UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
}

// SetAdmin implements auth.Store.
func (db *Store) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	return db.updateOne(ctx, lode.Errorf(lode.ENotFound, "User with id=%d not found", userID),
		`UPDATE users SET is_admin = ? WHERE id = ?`, admin, userID)
}

// DeleteUser implements auth.Store: the user's own role goes with them
// (assignments and tokens by cascade).
func (db *Store) DeleteUser(ctx context.Context, userID int64) error {
	return db.tx(ctx, func(tx *conn) error {
		if _, err := tx.Exec(ctx, `DELETE FROM roles WHERE workspace = ? AND name = ?`, auth.DefaultWorkspace, auth.OwnRoleName(userID)); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM users WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		if affected(res) == 0 {
			return lode.Errorf(lode.ENotFound, "User with id=%d not found", userID)
		}
		return nil
	})
}

const roleCols = `id, workspace, name, description`

func scanRole(row interface{ Scan(...any) error }) (*auth.Role, error) {
	var r auth.Role
	var desc sql.NullString
	if err := row.Scan(&r.ID, &r.Workspace, &r.Name, &desc); err != nil {
		return nil, err
	}
	if desc.Valid {
		r.Description = &desc.String
	}
	return &r, nil
}

func roleNotFound(id int64) error {
	return lode.Errorf(lode.ENotFound, "Role with id=%d not found", id)
}

// CreateRole implements auth.Store.
func (db *Store) CreateRole(ctx context.Context, r auth.Role) (*auth.Role, error) {
	err := db.w.QueryRow(ctx, `INSERT INTO roles (workspace, name, description) VALUES (?, ?, ?) RETURNING id`,
		r.Workspace, r.Name, r.Description).Scan(&r.ID)
	if db.isUnique(err) {
		return nil, lode.Errorf(lode.EExists, "Role (name=%s, workspace=%s) already exists.", r.Name, r.Workspace)
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	r.Permissions = []auth.RolePermission{}
	return &r, nil
}

// GetRole implements auth.Store.
func (db *Store) GetRole(ctx context.Context, id int64) (*auth.Role, error) {
	return db.getRole(ctx, roleNotFound(id), `SELECT `+roleCols+` FROM roles WHERE id = ?`, id)
}

// GetRoleByName implements auth.Store.
func (db *Store) GetRoleByName(ctx context.Context, workspace, name string) (*auth.Role, error) {
	return db.getRole(ctx, lode.Errorf(lode.ENotFound, "Role with name=%s not found in workspace=%s", name, workspace),
		`SELECT `+roleCols+` FROM roles WHERE workspace = ? AND name = ?`, workspace, name)
}

func (db *Store) getRole(ctx context.Context, missing error, query string, args ...any) (*auth.Role, error) {
	r, err := scanRole(db.r.QueryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, missing
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	if err := db.fillRoles(ctx, []*auth.Role{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// fillRoles loads the permissions of roles.
func (db *Store) fillRoles(ctx context.Context, roles []*auth.Role) error {
	if len(roles) == 0 {
		return nil
	}
	ids := make([]int64, len(roles))
	byID := make(map[int64]*auth.Role, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
		byID[r.ID] = r
		r.Permissions = []auth.RolePermission{}
	}
	var b sqlBuilder
	b.whereIn(&db.d, "role_id", col("int8", ids))
	ps, err := queryAll(ctx, db.r, `SELECT `+rolePermCols+` FROM role_permissions WHERE `+b.cond()+` ORDER BY id`, b.args, scanRolePermission)
	if err != nil {
		return db.dbErr(err)
	}
	for _, p := range ps {
		r := byID[p.RoleID]
		r.Permissions = append(r.Permissions, *p)
	}
	return nil
}

func (db *Store) queryRoles(ctx context.Context, query string, args []any) ([]*auth.Role, error) {
	out, err := queryAll(ctx, db.r, query, args, func(rows Rows) (*auth.Role, error) { return scanRole(rows) })
	if err != nil {
		return nil, db.dbErr(err)
	}
	return out, db.fillRoles(ctx, out)
}

// ListRoles implements auth.Store.
func (db *Store) ListRoles(ctx context.Context, workspaces []string) ([]*auth.Role, error) {
	var b sqlBuilder
	if len(workspaces) > 0 {
		b.whereIn(&db.d, "workspace", col("text", workspaces))
	}
	return db.queryRoles(ctx, `SELECT `+roleCols+` FROM roles WHERE `+b.cond()+` ORDER BY workspace, name`, b.args)
}

// UpdateRole implements auth.Store.
func (db *Store) UpdateRole(ctx context.Context, id int64, name, description *string) (*auth.Role, error) {
	err := db.tx(ctx, func(tx *conn) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM roles WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return roleNotFound(id)
		}
		if name != nil {
			_, err := tx.Exec(ctx, `UPDATE roles SET name = ? WHERE id = ?`, *name, id)
			if db.isUnique(err) {
				return lode.Errorf(lode.EExists, "Role with name=%s already exists", *name)
			} else if err != nil {
				return err
			}
		}
		if description != nil {
			if _, err := tx.Exec(ctx, `UPDATE roles SET description = ? WHERE id = ?`, *description, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.GetRole(ctx, id)
}

// DeleteRole implements auth.Store.
func (db *Store) DeleteRole(ctx context.Context, id int64) error {
	return db.updateOne(ctx, roleNotFound(id), `DELETE FROM roles WHERE id = ?`, id)
}

const rolePermCols = `id, role_id, resource_type, resource_pattern, permission`

func scanRolePermission(row Rows) (*auth.RolePermission, error) { return scanRolePerm(row) }

func scanRolePerm(row interface{ Scan(...any) error }) (*auth.RolePermission, error) {
	var p auth.RolePermission
	var t, perm string
	if err := row.Scan(&p.ID, &p.RoleID, &t, &p.Pattern, &perm); err != nil {
		return nil, err
	}
	p.Type, p.Permission = auth.ResourceType(t), auth.Permission(perm)
	return &p, nil
}

func rolePermNotFound(id int64) error {
	return lode.Errorf(lode.ENotFound, "Role permission with id=%d not found", id)
}

// AddRolePermission implements auth.Store.
func (db *Store) AddRolePermission(ctx context.Context, p auth.RolePermission) (*auth.RolePermission, error) {
	err := db.w.QueryRow(ctx, `INSERT INTO role_permissions (role_id, resource_type, resource_pattern, permission) VALUES (?, ?, ?, ?) RETURNING id`,
		p.RoleID, string(p.Type), p.Pattern, string(p.Permission)).Scan(&p.ID)
	switch {
	case db.isUnique(err):
		return nil, lode.Errorf(lode.EExists, "Role permission (role_id=%d, resource_type=%s, resource_pattern=%s) already exists.", p.RoleID, p.Type, p.Pattern)
	case db.isForeignKey(err):
		return nil, roleNotFound(p.RoleID)
	case err != nil:
		return nil, db.dbErr(err)
	}
	return &p, nil
}

// isForeignKey reports a foreign key violation (a row naming a parent that
// is gone), which both databases' messages say in these words.
func (db *Store) isForeignKey(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "foreign key")
}

// GetRolePermission implements auth.Store.
func (db *Store) GetRolePermission(ctx context.Context, id int64) (*auth.RolePermission, error) {
	p, err := scanRolePerm(db.r.QueryRow(ctx, `SELECT `+rolePermCols+` FROM role_permissions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rolePermNotFound(id)
	}
	return p, db.dbErr(err)
}

// FindRolePermission implements auth.Store.
func (db *Store) FindRolePermission(ctx context.Context, roleID int64, t auth.ResourceType, pattern string) (*auth.RolePermission, error) {
	p, err := scanRolePerm(db.r.QueryRow(ctx, `SELECT `+rolePermCols+` FROM role_permissions WHERE role_id = ? AND resource_type = ? AND resource_pattern = ?`,
		roleID, string(t), pattern))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, lode.Errorf(lode.ENotFound, "Role permission (role_id=%d, resource_type=%s, resource_pattern=%s) not found", roleID, t, pattern)
	}
	return p, db.dbErr(err)
}

// UpdateRolePermission implements auth.Store.
func (db *Store) UpdateRolePermission(ctx context.Context, id int64, perm auth.Permission) (*auth.RolePermission, error) {
	if err := db.updateOne(ctx, rolePermNotFound(id), `UPDATE role_permissions SET permission = ? WHERE id = ?`, string(perm), id); err != nil {
		return nil, err
	}
	return db.GetRolePermission(ctx, id)
}

// RemoveRolePermission implements auth.Store.
func (db *Store) RemoveRolePermission(ctx context.Context, id int64) error {
	return db.updateOne(ctx, rolePermNotFound(id), `DELETE FROM role_permissions WHERE id = ?`, id)
}

// AssignRole implements auth.Store.
func (db *Store) AssignRole(ctx context.Context, userID, roleID int64) (*auth.Assignment, error) {
	a := auth.Assignment{UserID: userID, RoleID: roleID}
	err := db.w.QueryRow(ctx, `INSERT INTO role_assignments (user_id, role_id) VALUES (?, ?) RETURNING id`, userID, roleID).Scan(&a.ID)
	switch {
	case db.isUnique(err):
		return nil, lode.Errorf(lode.EExists, "User role assignment (user_id=%d, role_id=%d) already exists", userID, roleID)
	case db.isForeignKey(err):
		return nil, lode.Errorf(lode.ENotFound, "User with id=%d or role with id=%d not found", userID, roleID)
	case err != nil:
		return nil, db.dbErr(err)
	}
	return &a, nil
}

// UnassignRole implements auth.Store.
func (db *Store) UnassignRole(ctx context.Context, userID, roleID int64) error {
	return db.updateOne(ctx, lode.Errorf(lode.ENotFound, "User role assignment (user_id=%d, role_id=%d) not found", userID, roleID),
		`DELETE FROM role_assignments WHERE user_id = ? AND role_id = ?`, userID, roleID)
}

// ListUserRoles implements auth.Store.
func (db *Store) ListUserRoles(ctx context.Context, userID int64) ([]*auth.Role, error) {
	return db.queryRoles(ctx, `SELECT r.id, r.workspace, r.name, r.description FROM roles r JOIN role_assignments a ON a.role_id = r.id
		WHERE a.user_id = ? ORDER BY r.workspace, r.name`, []any{userID})
}

// ListRoleUsers implements auth.Store.
func (db *Store) ListRoleUsers(ctx context.Context, roleID int64) ([]*auth.Assignment, error) {
	out, err := queryAll(ctx, db.r, `SELECT id, user_id, role_id FROM role_assignments WHERE role_id = ? ORDER BY id`, []any{roleID},
		func(rows Rows) (*auth.Assignment, error) {
			var a auth.Assignment
			return &a, rows.Scan(&a.ID, &a.UserID, &a.RoleID)
		})
	return out, db.dbErr(err)
}

// UserGrants implements auth.Store.
func (db *Store) UserGrants(ctx context.Context, userID int64, workspace string) ([]auth.RolePermission, error) {
	out, err := queryAll(ctx, db.r, `SELECT p.id, p.role_id, p.resource_type, p.resource_pattern, p.permission
		FROM role_permissions p JOIN roles r ON r.id = p.role_id JOIN role_assignments a ON a.role_id = r.id
		WHERE a.user_id = ? AND r.workspace = ? ORDER BY p.id`, []any{userID, workspace},
		func(rows Rows) (auth.RolePermission, error) {
			p, err := scanRolePerm(rows)
			if err != nil {
				return auth.RolePermission{}, err
			}
			return *p, nil
		})
	return out, db.dbErr(err)
}

// ownRoles selects users' own roles.
const ownRoles = `role_id IN (SELECT id FROM roles WHERE workspace = ? AND name LIKE '\_\_user\_%' ESCAPE '\')`

// RenameGrants implements auth.Store.
func (db *Store) RenameGrants(ctx context.Context, t auth.ResourceType, from, to string) error {
	_, err := db.w.Exec(ctx, `UPDATE role_permissions SET resource_pattern = ? WHERE resource_type = ? AND resource_pattern = ? AND `+ownRoles,
		to, string(t), from, auth.DefaultWorkspace)
	return db.dbErr(err)
}

// DeleteGrants implements auth.Store.
func (db *Store) DeleteGrants(ctx context.Context, t auth.ResourceType, id string) error {
	_, err := db.w.Exec(ctx, `DELETE FROM role_permissions WHERE resource_type = ? AND resource_pattern = ? AND `+ownRoles,
		string(t), id, auth.DefaultWorkspace)
	return db.dbErr(err)
}

const tokenCols = `id, user_id, name, kind, hash, created_ms, expires_ms, last_used_ms, job_id`

// tokenSelect reads tokens with their user's name (every token has a user:
// deleting one deletes their tokens).
const tokenSelect = `SELECT t.id, t.user_id, t.name, t.kind, t.hash, t.created_ms, t.expires_ms, t.last_used_ms, t.job_id, u.username
	FROM tokens t JOIN users u ON u.id = t.user_id`

func scanToken(row interface{ Scan(...any) error }) (*auth.Token, error) {
	var t auth.Token
	var kind string
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &kind, &t.Hash, &t.CreatedMs, &t.ExpiresMs, &t.LastUsedMs, &t.JobID, &t.Username); err != nil {
		return nil, err
	}
	t.Kind = auth.TokenKind(kind)
	return &t, nil
}

func tokenNotFound() error { return lode.Errorf(lode.ENotFound, "Token not found.") }

// CreateToken implements auth.Store.
func (db *Store) CreateToken(ctx context.Context, t auth.Token) error {
	_, err := db.w.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserID, t.Name, string(t.Kind), t.Hash, t.CreatedMs, t.ExpiresMs, t.LastUsedMs, t.JobID)
	switch {
	case db.isUnique(err):
		return lode.Errorf(lode.EExists, "Token %s already exists.", t.ID)
	case db.isForeignKey(err):
		return lode.Errorf(lode.ENotFound, "User with id=%d not found", t.UserID)
	}
	return db.dbErr(err)
}

// GetToken implements auth.Store.
func (db *Store) GetToken(ctx context.Context, hash string) (*auth.Token, error) {
	t, err := scanToken(db.r.QueryRow(ctx, tokenSelect+` WHERE t.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tokenNotFound()
	}
	return t, db.dbErr(err)
}

// GetTokenByID implements auth.Store.
func (db *Store) GetTokenByID(ctx context.Context, id string) (*auth.Token, error) {
	t, err := scanToken(db.r.QueryRow(ctx, tokenSelect+` WHERE t.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tokenNotFound()
	}
	return t, db.dbErr(err)
}

// ListTokens implements auth.Store.
func (db *Store) ListTokens(ctx context.Context, userID int64, kinds ...auth.TokenKind) ([]*auth.Token, error) {
	var b sqlBuilder
	if userID != 0 {
		b.where("t.user_id = ?", userID)
	}
	if len(kinds) > 0 {
		ks := make([]string, len(kinds))
		for i, k := range kinds {
			ks[i] = string(k)
		}
		b.whereIn(&db.d, "t.kind", col("text", ks))
	}
	out, err := queryAll(ctx, db.r, tokenSelect+` WHERE `+b.cond()+` ORDER BY t.created_ms DESC, t.id`, b.args,
		func(rows Rows) (*auth.Token, error) { return scanToken(rows) })
	return out, db.dbErr(err)
}

// DeleteToken implements auth.Store.
func (db *Store) DeleteToken(ctx context.Context, id string) error {
	return db.updateOne(ctx, tokenNotFound(), `DELETE FROM tokens WHERE id = ?`, id)
}

// DeleteJobTokens implements auth.Store.
func (db *Store) DeleteJobTokens(ctx context.Context, jobID string) error {
	if jobID == "" {
		return nil
	}
	_, err := db.w.Exec(ctx, `DELETE FROM tokens WHERE job_id = ?`, jobID)
	return db.dbErr(err)
}

// DeleteExpiredTokens implements auth.Store.
func (db *Store) DeleteExpiredTokens(ctx context.Context, nowMs int64) (int, error) {
	res, err := db.w.Exec(ctx, `DELETE FROM tokens WHERE expires_ms > 0 AND expires_ms <= ?`, nowMs)
	if err != nil {
		return 0, db.dbErr(err)
	}
	return int(affected(res)), nil
}

// TouchToken implements auth.Store.
func (db *Store) TouchToken(ctx context.Context, id string, nowMs int64) error {
	_, err := db.w.Exec(ctx, `UPDATE tokens SET last_used_ms = ? WHERE id = ?`, nowMs, id)
	return db.dbErr(err)
}
