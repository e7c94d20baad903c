package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

var _ registry.Store = (*Store)(nil)

func modelNotFoundErr(name string) error {
	return lode.Errorf(lode.ENotFound, "Registered Model with name=%s not found", name)
}

func versionNotFound(name, version string) error {
	return lode.Errorf(lode.ENotFound, "Model Version (name=%s, version=%s) not found", name, version)
}

// badVersion reports a version that is no integer where the dialect's
// IntVersions says so: it names no version (as in SQLite's comparison),
// where PostgreSQL would fail to parse it.
func (db *Store) badVersion(version string) bool {
	if !db.d.IntVersions {
		return false
	}
	_, err := strconv.ParseInt(version, 10, 64)
	return err != nil
}

// CreateModel implements registry.Store.
func (db *Store) CreateModel(ctx context.Context, m registry.Model) (*registry.Model, error) {
	err := db.tx(ctx, func(tx *conn) error {
		_, err := tx.Exec(ctx, `INSERT INTO registered_models (name, creation_time, last_update_time, description, user_id) VALUES (?, ?, ?, ?, ?)`,
			m.Name, m.CreationTime, m.LastUpdateTime, m.Description, m.UserID)
		if db.isUnique(err) {
			return lode.Errorf(lode.EExists, "Registered Model (name=%s) already exists.", m.Name)
		} else if err != nil {
			return err
		}
		for _, t := range m.Tags {
			if _, err := tx.Exec(ctx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, m.Name, t.Key, t.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.GetModel(ctx, m.Name)
}

const modelCols = `name, creation_time, last_update_time, description, user_id`

func scanRegModel(row interface{ Scan(...any) error }) (*registry.Model, error) {
	var m registry.Model
	err := row.Scan(&m.Name, &m.CreationTime, &m.LastUpdateTime, &m.Description, &m.UserID)
	return &m, err
}

// GetModel implements registry.Store.
func (db *Store) GetModel(ctx context.Context, name string) (*registry.Model, error) {
	m, err := scanRegModel(db.r.QueryRow(ctx, `SELECT `+modelCols+` FROM registered_models WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, modelNotFoundErr(name)
	} else if err != nil {
		return nil, db.dbErr(err)
	}
	return m, db.dbErr(db.fillModels(ctx, []*registry.Model{m}))
}

// fillModels loads tags, aliases and latest versions of models.
func (db *Store) fillModels(ctx context.Context, models []*registry.Model) error {
	for _, m := range models {
		var err error
		if m.Tags, err = queryAll(ctx, db.r, `SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key`, []any{m.Name}, scanTag); err != nil {
			return err
		}
		m.Aliases, err = queryAll(ctx, db.r, `SELECT alias, CAST(version AS TEXT) FROM registered_model_aliases WHERE name = ? ORDER BY alias`, []any{m.Name}, func(rows Rows) (registry.Alias, error) {
			var a registry.Alias
			err := rows.Scan(&a.Alias, &a.Version)
			return a, err
		})
		if err != nil {
			return err
		}
		if m.LatestVersions, err = db.LatestVersions(ctx, m.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

func (db *Store) registeredTx(ctx context.Context, name string, now int64, fn func(tx *conn) error) error {
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `UPDATE registered_models SET last_update_time = ? WHERE name = ?`, now, name)
		if err != nil {
			return err
		}
		if affected(res) == 0 {
			return modelNotFoundErr(name)
		}
		return fn(tx)
	})
}

// RenameModel implements registry.Store; versions, tags and aliases follow
// through ON UPDATE CASCADE.
func (db *Store) RenameModel(ctx context.Context, name, newName string, now int64) (*registry.Model, error) {
	err := db.registeredTx(ctx, name, now, func(tx *conn) error {
		_, err := tx.Exec(ctx, `UPDATE registered_models SET name = ? WHERE name = ?`, newName, name)
		if db.isUnique(err) {
			return lode.Errorf(lode.EExists, "Registered Model (name=%s) already exists.", newName)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.GetModel(ctx, newName)
}

// UpdateModel implements registry.Store.
func (db *Store) UpdateModel(ctx context.Context, name, description string, now int64) (*registry.Model, error) {
	err := db.registeredTx(ctx, name, now, func(tx *conn) error {
		_, err := tx.Exec(ctx, `UPDATE registered_models SET description = ? WHERE name = ?`, description, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.GetModel(ctx, name)
}

// DeleteModel implements registry.Store.
func (db *Store) DeleteModel(ctx context.Context, name string) error {
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `DELETE FROM registered_models WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if affected(res) == 0 {
			return modelNotFoundErr(name)
		}
		return nil
	})
}

// SetModelTag implements registry.Store.
func (db *Store) SetModelTag(ctx context.Context, name string, t tracking.Tag) error {
	return db.registeredTx(ctx, name, nowMillis(), func(tx *conn) error {
		_, err := tx.Exec(ctx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, name, t.Key, t.Value)
		return err
	})
}

// DeleteModelTag implements registry.Store.
func (db *Store) DeleteModelTag(ctx context.Context, name, key string) error {
	return db.registeredTx(ctx, name, nowMillis(), func(tx *conn) error {
		// A missing tag is not an error, as in MLflow.
		_, err := tx.Exec(ctx, `DELETE FROM registered_model_tags WHERE name = ? AND key = ?`, name, key)
		return err
	})
}

// SetAlias implements registry.Store.
func (db *Store) SetAlias(ctx context.Context, name, alias, version string) error {
	if db.badVersion(version) {
		if _, err := db.GetModel(ctx, name); err != nil {
			return err
		}
		return versionNotFound(name, version)
	}
	return db.registeredTx(ctx, name, nowMillis(), func(tx *conn) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM model_versions WHERE name = ? AND version = ?`, name, version).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return versionNotFound(name, version)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, name, alias, version)
		return err
	})
}

// DeleteAlias implements registry.Store; deleting a missing alias is fine,
// as in MLflow.
func (db *Store) DeleteAlias(ctx context.Context, name, alias string) error {
	return db.registeredTx(ctx, name, nowMillis(), func(tx *conn) error {
		_, err := tx.Exec(ctx, `DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias)
		return err
	})
}

const versionCols = `v.name, v.version, v.creation_time, v.last_update_time, v.description, v.user_id, v.current_stage, v.source, v.storage_location, v.run_id, v.run_link, v.status, v.status_message, v.model_id,
	v.flavors, v.input_columns, v.input_types, v.output_columns, v.output_types, v.signature_inputs, v.signature_outputs`

func scanVersion(row interface{ Scan(...any) error }) (*registry.Version, error) {
	var v registry.Version
	var n int64
	var flavors, inTypes, outTypes string
	lib := &v.Library
	err := row.Scan(&v.Name, &n, &v.CreationTime, &v.LastUpdateTime, &v.Description, &v.UserID, &v.CurrentStage, &v.Source, &v.StorageLocation, &v.RunID, &v.RunLink, &v.Status, &v.StatusMessage, &v.ModelID,
		&flavors, &lib.InputColumns, &inTypes, &lib.OutputColumns, &outTypes, &lib.SignatureInputs, &lib.SignatureOutputs)
	v.Version = strconv.FormatInt(n, 10)
	lib.Flavors, lib.InputTypes, lib.OutputTypes = splitSet(flavors), splitSet(inTypes), splitSet(outTypes)
	return &v, err
}

// Sets of names are stored as ",a,b," so that LIKE '%,a,%' finds a member.
func joinSet(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "," + strings.Join(items, ",") + ","
}

func splitSet(s string) []string {
	if s = strings.Trim(s, ","); s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// fillVersions loads tags and aliases of versions.
func (db *Store) fillVersions(ctx context.Context, vs []*registry.Version) error {
	for _, v := range vs {
		var err error
		if v.Tags, err = queryAll(ctx, db.r, `SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? ORDER BY key`, []any{v.Name, v.Version}, scanTag); err != nil {
			return err
		}
		v.Aliases, err = queryAll(ctx, db.r, `SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias`, []any{v.Name, v.Version}, func(rows Rows) (string, error) {
			var s string
			err := rows.Scan(&s)
			return s, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CreateVersion implements registry.Store.
func (db *Store) CreateVersion(ctx context.Context, v registry.Version) (*registry.Version, error) {
	var version int64
	err := db.registeredTx(ctx, v.Name, v.CreationTime, func(tx *conn) error {
		if err := tx.QueryRow(ctx, `UPDATE registered_models SET next_version = next_version + 1 WHERE name = ? RETURNING next_version - 1`, v.Name).Scan(&version); err != nil {
			return err
		}
		lib := v.Library
		if _, err := tx.Exec(ctx, `INSERT INTO model_versions (name, version, creation_time, last_update_time, description, user_id, current_stage, source, storage_location, run_id, run_link, status, status_message, model_id,
				flavors, input_columns, input_types, output_columns, output_types, signature_inputs, signature_outputs)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.Name, version, v.CreationTime, v.LastUpdateTime, v.Description, v.UserID, v.CurrentStage,
			v.Source, v.StorageLocation, v.RunID, v.RunLink, v.Status, v.StatusMessage, v.ModelID,
			joinSet(lib.Flavors), lib.InputColumns, joinSet(lib.InputTypes), lib.OutputColumns, joinSet(lib.OutputTypes), lib.SignatureInputs, lib.SignatureOutputs); err != nil {
			return err
		}
		for _, t := range v.Tags {
			if _, err := tx.Exec(ctx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, v.Name, version, t.Key, t.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.GetVersion(ctx, v.Name, strconv.FormatInt(version, 10))
}

// GetVersion implements registry.Store.
func (db *Store) GetVersion(ctx context.Context, name, version string) (*registry.Version, error) {
	if db.badVersion(version) {
		return nil, versionNotFound(name, version)
	}
	v, err := scanVersion(db.r.QueryRow(ctx, `SELECT `+versionCols+` FROM model_versions v WHERE v.name = ? AND v.version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, versionNotFound(name, version)
	} else if err != nil {
		return nil, db.dbErr(err)
	}
	return v, db.dbErr(db.fillVersions(ctx, []*registry.Version{v}))
}

// GetVersionByAlias implements registry.Store.
func (db *Store) GetVersionByAlias(ctx context.Context, name, alias string) (*registry.Version, error) {
	var version string
	err := db.r.QueryRow(ctx, `SELECT CAST(version AS TEXT) FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := db.GetModel(ctx, name); err != nil {
			return nil, err
		}
		// MLflow answers an unknown alias with INVALID_PARAMETER_VALUE.
		return nil, lode.Errorf(lode.EInvalid, "Registered model alias %s not found.", alias)
	} else if err != nil {
		return nil, db.dbErr(err)
	}
	return db.GetVersion(ctx, name, version)
}

func (db *Store) versionTx(ctx context.Context, name, version string, now int64, fn func(tx *conn) error) error {
	if db.badVersion(version) {
		return versionNotFound(name, version)
	}
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `UPDATE model_versions SET last_update_time = ? WHERE name = ? AND version = ?`, now, name, version)
		if err != nil {
			return err
		}
		if affected(res) == 0 {
			return versionNotFound(name, version)
		}
		return fn(tx)
	})
}

// UpdateVersion implements registry.Store.
func (db *Store) UpdateVersion(ctx context.Context, name, version, description string, now int64) (*registry.Version, error) {
	err := db.versionTx(ctx, name, version, now, func(tx *conn) error {
		_, err := tx.Exec(ctx, `UPDATE model_versions SET description = ? WHERE name = ? AND version = ?`, description, name, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.GetVersion(ctx, name, version)
}

// TransitionStage implements registry.Store.
func (db *Store) TransitionStage(ctx context.Context, name, version, stage string, archiveOthers bool, now int64) (*registry.Version, error) {
	err := db.versionTx(ctx, name, version, now, func(tx *conn) error {
		if archiveOthers {
			if _, err := tx.Exec(ctx, `UPDATE model_versions SET current_stage = 'Archived', last_update_time = ? WHERE name = ? AND version != ? AND current_stage = ?`, now, name, version, stage); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE model_versions SET current_stage = ? WHERE name = ? AND version = ?`, stage, name, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.GetVersion(ctx, name, version)
}

// DeleteVersion implements registry.Store.
func (db *Store) DeleteVersion(ctx context.Context, name, version string) error {
	if db.badVersion(version) {
		return versionNotFound(name, version)
	}
	return db.tx(ctx, func(tx *conn) error {
		res, err := tx.Exec(ctx, `DELETE FROM model_versions WHERE name = ? AND version = ?`, name, version)
		if err != nil {
			return err
		}
		if affected(res) == 0 {
			return versionNotFound(name, version)
		}
		_, err = tx.Exec(ctx, `UPDATE registered_models SET last_update_time = ? WHERE name = ?`, nowMillis(), name)
		return err
	})
}

// LatestVersions implements registry.Store.
func (db *Store) LatestVersions(ctx context.Context, name string, stages []string) ([]*registry.Version, error) {
	var b sqlBuilder
	b.where("v.name = ?", name)
	if len(stages) > 0 {
		args := make([]any, len(stages))
		for i, s := range stages {
			args[i] = s
		}
		b.where("v.current_stage IN ("+placeholders(len(args))+")", args...)
	}
	rows, err := db.r.Query(ctx, `SELECT `+versionCols+` FROM model_versions v WHERE `+b.cond()+`
		AND v.version = (SELECT max(w.version) FROM model_versions w WHERE w.name = v.name AND w.current_stage = v.current_stage)
		ORDER BY v.version`, b.args...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	var out []*registry.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return nil, db.dbErr(err)
		}
		out = append(out, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.dbErr(err)
	}
	return out, db.dbErr(db.fillVersions(ctx, out))
}

// SetVersionTag implements registry.Store.
func (db *Store) SetVersionTag(ctx context.Context, name, version string, t tracking.Tag) error {
	return db.versionTx(ctx, name, version, nowMillis(), func(tx *conn) error {
		_, err := tx.Exec(ctx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, name, version, t.Key, t.Value)
		return err
	})
}

// DeleteVersionTag implements registry.Store.
func (db *Store) DeleteVersionTag(ctx context.Context, name, version, key string) error {
	return db.versionTx(ctx, name, version, nowMillis(), func(tx *conn) error {
		_, err := tx.Exec(ctx, `DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?`, name, version, key)
		return err
	})
}

// registryFilter compiles a registry search filter; tags live in tagTable
// keyed by the columns in tagJoin.
func (db *Store) registryFilter(b *sqlBuilder, filter []tracking.Comparison, cols map[string]string, tagTable, tagJoin string) error {
	for _, c := range filter {
		switch c.KeyType {
		case tracking.KeyAttribute:
			col, ok := cols[c.Key]
			if !ok {
				return lode.Errorf(lode.EInvalid, "Invalid attribute key '%s' specified.", c.Key)
			}
			if err := b.compare(&db.d, col, c.Op, c.Value); err != nil {
				return err
			}
		case tracking.KeyTag:
			if c.Op == "!=" {
				// As in MLflow's registry, a model without the tag also
				// matches tags.k != 'v' (the client adds such a clause to
				// leave out prompts).
				b.where("NOT EXISTS (SELECT 1 FROM "+tagTable+" t WHERE "+tagJoin+" AND t.key = ? AND t.value = ?)", c.Key, c.Value)
				continue
			}
			var sub sqlBuilder
			sub.where(tagJoin+" AND t.key = ?", c.Key)
			if err := sub.compare(&db.d, "t.value", c.Op, c.Value); err != nil {
				return err
			}
			b.where("EXISTS (SELECT 1 FROM "+tagTable+" t WHERE "+sub.cond()+")", sub.args...)
		default:
			return lode.Errorf(lode.EInvalid, "Invalid entity type '%s'", c.KeyType)
		}
	}
	return nil
}

func orderSQL(orders []tracking.OrderBy, cols map[string]string, tail ...string) string {
	var out []string
	for _, o := range orders {
		out = append(out, cols[o.Key]+direction(o.Asc))
	}
	return strings.Join(append(out, tail...), ", ")
}

// SearchModels implements registry.Store.
func (db *Store) SearchModels(ctx context.Context, q registry.Query) ([]*registry.Model, string, error) {
	offset, err := parsePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	cols := map[string]string{"name": "m.name", "last_update_time": "m.last_update_time", "creation_time": "m.creation_time"}
	var b sqlBuilder
	if err := db.registryFilter(&b, q.Filter, cols, "registered_model_tags", "t.name = m.name"); err != nil {
		return nil, "", err
	}
	db.whereScope(&b, "m.name", q.Models)
	query := `SELECT m.name, m.creation_time, m.last_update_time, m.description, m.user_id FROM registered_models m WHERE ` + b.cond() +
		` ORDER BY ` + orderSQL(q.OrderBy, cols, "m.name ASC") + ` LIMIT ? OFFSET ?`
	models, next, err := queryPage(ctx, db.r, query, b.args, q.MaxResults, offset, func(rows Rows) (*registry.Model, error) {
		return scanRegModel(rows)
	})
	if err != nil {
		return nil, "", err
	}
	return models, next, db.dbErr(db.fillModels(ctx, models))
}

// SearchVersions implements registry.Store.
func (db *Store) SearchVersions(ctx context.Context, q registry.Query) ([]*registry.Version, string, error) {
	offset, err := parsePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	cols := map[string]string{"name": "v.name", "run_id": "v.run_id", "source_path": "v.source", "version_number": "v.version",
		"version": "v.version", "user_id": "v.user_id", "creation_time": "v.creation_time", "last_update_time": "v.last_update_time"}
	var b sqlBuilder
	if err := db.registryFilter(&b, q.Filter, cols, "model_version_tags", "t.name = v.name AND t.version = v.version"); err != nil {
		return nil, "", err
	}
	db.whereScope(&b, "v.name", q.Models)
	query := `SELECT ` + versionCols + ` FROM model_versions v WHERE ` + b.cond() +
		` ORDER BY ` + orderSQL(q.OrderBy, cols, "v.last_update_time DESC", "v.name ASC", "v.version DESC") + ` LIMIT ? OFFSET ?`
	vs, next, err := queryPage(ctx, db.r, query, b.args, q.MaxResults, offset, func(rows Rows) (*registry.Version, error) {
		return scanVersion(rows)
	})
	if err != nil {
		return nil, "", err
	}
	return vs, next, db.dbErr(db.fillVersions(ctx, vs))
}

// SearchLibrary implements registry.Store.
func (db *Store) SearchLibrary(ctx context.Context, q registry.LibraryQuery) ([]*registry.Version, error) {
	var b sqlBuilder
	if q.NameLike != "" {
		b.where("v.name LIKE ?", q.NameLike)
	}
	for k, val := range q.Tags {
		b.where("EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.name = v.name AND t.key = ? AND t.value = ?)", k, val)
	}
	if q.Flavor != "" {
		b.where("v.flavors LIKE ?", "%,"+q.Flavor+",%")
	}
	if q.InputColumns > 0 {
		b.where("v.input_columns = ?", q.InputColumns)
	}
	if q.InputType != "" {
		b.where("v.input_types LIKE ?", "%,"+q.InputType+",%")
	}
	if q.OutputColumns > 0 {
		b.where("v.output_columns = ?", q.OutputColumns)
	}
	if q.OutputType != "" {
		b.where("v.output_types LIKE ?", "%,"+q.OutputType+",%")
	}
	db.whereScope(&b, "v.name", q.Models)
	query := `SELECT ` + versionCols + ` FROM model_versions v WHERE ` + b.cond() + ` ORDER BY v.name, v.version DESC`
	args := b.args
	if !q.LatestOnly { // else keep the newest per model below, then cut
		query += ` LIMIT ?`
		args = append(args, int64(q.MaxResults))
	}
	rows, err := db.r.Query(ctx, query, args...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	var out []*registry.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return nil, db.dbErr(err)
		}
		if q.LatestOnly && len(out) > 0 && out[len(out)-1].Name == v.Name {
			continue
		}
		out = append(out, v)
		if len(out) == q.MaxResults {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.dbErr(err)
	}
	return out, db.dbErr(db.fillVersions(ctx, out))
}
