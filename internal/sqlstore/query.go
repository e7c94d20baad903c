package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// sqlBuilder collects AND-ed conditions and their arguments.
type sqlBuilder struct {
	conds []string
	args  []any
}

func (b *sqlBuilder) where(cond string, args ...any) {
	b.conds = append(b.conds, cond)
	b.args = append(b.args, args...)
}

func (b *sqlBuilder) cond() string {
	if len(b.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(b.conds, " AND ")
}

// compare adds `col op value` for one filter comparison. Values come from
// the parser, so they are bound as arguments, never spliced into SQL.
//
// A number from the parser is a float64, bound with the dialect's
// FloatArg; LIKE and ILIKE are the dialect's.
func (b *sqlBuilder) compare(d *Dialect, col, op string, value any) error {
	ph := "?"
	if _, ok := value.(float64); ok {
		ph = d.FloatArg
	}
	switch op {
	case "=", "!=", "<", "<=", ">", ">=":
		if _, ok := value.([]string); ok {
			return lode.Errorf(lode.EInvalid, "Invalid comparator '%s' for a list value", op)
		}
		b.where(col+" "+op+" "+ph, value)
	case "LIKE", "ILIKE":
		cond, arg := d.Like(col, op, value)
		b.where(cond, arg)
	case "IN", "NOT IN":
		vs, ok := value.([]string)
		if !ok {
			return lode.Errorf(lode.EInvalid, "Invalid value for '%s': expected a list", op)
		}
		if len(vs) == 0 {
			return lode.Errorf(lode.EInvalid, "'%s' needs a non-empty list", op)
		}
		args := make([]any, len(vs))
		for i, v := range vs {
			args[i] = v
		}
		b.where(col+" "+op+" ("+placeholders(len(vs))+")", args...)
	default:
		return lode.Errorf(lode.EInvalid, "Invalid comparator '%s'", op)
	}
	return nil
}

func direction(asc bool) string {
	if asc {
		return " ASC"
	}
	return " DESC"
}

// Page tokens are base64 JSON {"offset": n}, as MLflow's.
func pageToken(offset int) string {
	b, _ := json.Marshal(map[string]int{"offset": offset})
	return base64.StdEncoding.EncodeToString(b)
}

func parsePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(tok); err != nil {
			return 0, lode.Errorf(lode.EInvalid, "Invalid page token, could not base64-decode")
		}
	}
	var t struct {
		Offset *int `json:"offset"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return 0, lode.Errorf(lode.EInvalid, "Invalid page token, decoded value=%s", raw)
	}
	if t.Offset == nil {
		return 0, lode.Errorf(lode.EInvalid, "Invalid page token, parsed value=%s", raw)
	}
	if *t.Offset < 0 {
		return 0, lode.Errorf(lode.EInvalid, "Invalid page token, offset must be non-negative")
	}
	return *t.Offset, nil
}

// queryPage runs a search query (its SQL ends in LIMIT ? OFFSET ?, which
// queryPage binds), scans its rows, and returns at most limit of them with
// the token of the next page, if any.
func queryPage[T any](ctx context.Context, c *conn, query string, args []any, limit, offset int, scan func(Rows) (T, error)) ([]T, string, error) {
	out, err := queryAll(ctx, c, query, append(args, int64(limit)+1, int64(offset)), scan)
	if err != nil {
		return nil, "", c.d.Err(err)
	}
	if len(out) > limit {
		return out[:limit], pageToken(offset + limit), nil
	}
	return out, "", nil
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, c *conn, query string, args []any, scan func(Rows) (T, error)) ([]T, error) {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanTag(rows Rows) (tracking.Tag, error) {
	var t tracking.Tag
	err := rows.Scan(&t.Key, &t.Value)
	return t, err
}

// whereIn adds `expr IN vals`.
func (b *sqlBuilder) whereIn(d *Dialect, expr string, vals column) {
	cond, args := d.in(expr, vals)
	b.where(cond, args...)
}

// whereScope keeps the rows whose expr, a text column, is within sc.
func (db *Store) whereScope(b *sqlBuilder, expr string, sc lode.Scope) {
	db.scope(b, expr, sc, func(ids []string) column { return col("text", ids) })
}

// whereIDScope keeps the rows whose expr, an integer id column, is
// within sc; ids that are no integers name no row.
func (db *Store) whereIDScope(b *sqlBuilder, expr string, sc lode.Scope) {
	db.scope(b, expr, sc, func(ids []string) column {
		ns := make([]int64, 0, len(ids))
		for _, id := range ids {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				ns = append(ns, n)
			}
		}
		return col("int8", ns)
	})
}

func (db *Store) scope(b *sqlBuilder, expr string, sc lode.Scope, vals func([]string) column) {
	switch {
	case sc.Only:
		if v := vals(sc.IDs); v.n > 0 {
			b.whereIn(&db.d, expr, v)
		} else {
			b.where("1 = 0")
		}
	case len(sc.Except) > 0:
		if v := vals(sc.Except); v.n > 0 {
			cond, args := db.d.in(expr, v)
			b.where("NOT ("+cond+")", args...)
		}
	}
}
