package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// runAttrColumns maps the parser's attribute keys to columns of runs r.
var runAttrColumns = map[string]string{
	"run_id":          "r.run_uuid",
	"run_name":        "r.name",
	"status":          "r.status",
	"user_id":         "r.user_id",
	"start_time":      "r.start_time",
	"end_time":        "r.end_time",
	"artifact_uri":    "r.artifact_uri",
	"lifecycle_stage": "r.lifecycle_stage",
	"experiment_id":   "r.experiment_id",
}

// runFilterSQL compiles one comparison of a search_runs filter into a
// condition on runs r.
func (db *Store) runFilterSQL(b *sqlBuilder, c tracking.Comparison) error {
	var sub sqlBuilder
	switch c.KeyType {
	case tracking.KeyAttribute:
		col, ok := runAttrColumns[c.Key]
		if !ok {
			return lode.Errorf(lode.EInvalid, "Invalid attribute key '%s' specified.", c.Key)
		}
		return b.compare(&db.d, col, c.Op, c.Value)
	case tracking.KeyMetric:
		// A NaN value satisfies != and nothing else, as in MLflow.
		var val sqlBuilder
		if err := val.compare(&db.d, "m.value", c.Op, c.Value); err != nil {
			return err
		}
		if c.Op == "!=" {
			sub.where("m.rid = r.rid AND m.key = ? AND (m.is_nan OR "+val.cond()+")", append([]any{c.Key}, val.args...)...)
		} else {
			sub.where("m.rid = r.rid AND m.key = ? AND NOT m.is_nan AND "+val.cond(), append([]any{c.Key}, val.args...)...)
		}
		b.where("EXISTS (SELECT 1 FROM latest_metrics m WHERE "+sub.cond()+")", sub.args...)
	case tracking.KeyParam, tracking.KeyTag:
		table := map[string]string{tracking.KeyParam: "params", tracking.KeyTag: "tags"}[c.KeyType]
		sub.where("p.rid = r.rid AND p.key = ?", c.Key)
		if isNullOp(b, c.Op, "SELECT 1 FROM "+table+" p WHERE "+sub.cond(), sub.args) {
			return nil
		}
		if err := sub.compare(&db.d, "p.value", c.Op, c.Value); err != nil {
			return err
		}
		b.where("EXISTS (SELECT 1 FROM "+table+" p WHERE "+sub.cond()+")", sub.args...)
	case tracking.KeyDataset:
		switch c.Key {
		case "name", "digest":
			sub.where("i.rid = r.rid")
			if err := sub.compare(&db.d, "d."+c.Key, c.Op, c.Value); err != nil {
				return err
			}
			b.where("EXISTS (SELECT 1 FROM run_inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid WHERE "+sub.cond()+")", sub.args...)
		case "context":
			sub.where("t.rid = r.rid AND t.key = 'mlflow.data.context'")
			if err := sub.compare(&db.d, "t.value", c.Op, c.Value); err != nil {
				return err
			}
			b.where("EXISTS (SELECT 1 FROM run_input_tags t WHERE "+sub.cond()+")", sub.args...)
		default:
			return lode.Errorf(lode.EInvalid, "Invalid dataset key '%s' specified. Valid keys are name, digest, context.", c.Key)
		}
	default:
		return lode.Errorf(lode.EInvalid, "Invalid search expression type '%s'", c.KeyType)
	}
	return nil
}

// isNullOp handles `key IS NULL` (no such param or tag) and `key IS NOT
// NULL` given the subquery that finds the key; it reports whether op was one.
func isNullOp(b *sqlBuilder, op, sub string, args []any) bool {
	switch op {
	case "IS NULL":
		b.where("NOT EXISTS ("+sub+")", args...)
	case "IS NOT NULL":
		b.where("EXISTS ("+sub+")", args...)
	default:
		return false
	}
	return true
}

// SearchRuns implements tracking.Store. The whole query — filter, order
// and page — runs in the database; only the page's runs are loaded.
func (db *Store) SearchRuns(ctx context.Context, q tracking.RunQuery) ([]*tracking.Run, string, error) {
	offset, err := parsePageToken(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	exps, err := parseExperimentIDs(q.ExperimentIDs)
	if err != nil {
		return nil, "", err
	}
	var where sqlBuilder
	where.whereIn(&db.d, "r.experiment_id", col("int8", exps))
	stages := stagesFor(q.ViewType)
	where.where("r.lifecycle_stage IN ("+placeholders(len(stages))+")", stages...)
	// A metric the runs are sorted by and also filtered with =, <, <=, >
	// or >= is present and not NaN in every run returned: the sort can
	// then join it as it is (no LEFT JOIN, no NULL/NaN ordering), and the
	// filter's conditions go on that join. The database can then walk
	// the (key, value) index in order and stop at the page's end, instead
	// of sorting every matching run (PostgreSQL, a 100,000-run search:
	// 132 ms to 2.5 ms).
	pinned := map[string]*sqlBuilder{}
	pinnedAlias := map[string]string{}
	for i, o := range q.OrderBy {
		if o.KeyType != tracking.KeyMetric || pinned[o.Key] != nil {
			continue
		}
		for _, c := range q.Filter {
			if c.KeyType == tracking.KeyMetric && c.Key == o.Key && presentWhenMatched(c.Op) {
				pinned[o.Key], pinnedAlias[o.Key] = &sqlBuilder{}, fmt.Sprintf("o%d", i)
			}
		}
	}
	for _, c := range q.Filter {
		if on := pinned[c.Key]; on != nil && c.KeyType == tracking.KeyMetric && presentWhenMatched(c.Op) {
			if err := on.compare(&db.d, pinnedAlias[c.Key]+".value", c.Op, c.Value); err != nil {
				return nil, "", err
			}
			continue
		}
		if err := db.runFilterSQL(&where, c); err != nil {
			return nil, "", err
		}
	}

	var joins []string
	var joinArgs []any
	var order []string
	seen := map[string]bool{}
	for i, o := range q.OrderBy {
		id := o.KeyType + "." + o.Key
		if seen[id] {
			return nil, "", lode.Errorf(lode.EInvalid, "`order_by` contains duplicate fields: %s", id)
		}
		seen[id] = true
		alias := fmt.Sprintf("o%d", i)
		switch o.KeyType {
		case tracking.KeyAttribute:
			col, ok := runAttrColumns[o.Key]
			if !ok {
				return nil, "", lode.Errorf(lode.EInvalid, "Invalid attribute key '%s' specified.", o.Key)
			}
			order = append(order, "("+col+" IS NULL)", col+direction(o.Asc))
		case tracking.KeyMetric:
			if on := pinned[o.Key]; on != nil && pinnedAlias[o.Key] == alias {
				joins = append(joins, "JOIN latest_metrics "+alias+" ON "+alias+".rid = r.rid AND "+alias+".key = ? AND NOT "+alias+".is_nan AND "+on.cond())
				joinArgs = append(append(joinArgs, o.Key), on.args...)
				order = append(order, alias+".value"+direction(o.Asc))
				break
			}
			joins = append(joins, "LEFT JOIN latest_metrics "+alias+" ON "+alias+".rid = r.rid AND "+alias+".key = ?")
			joinArgs = append(joinArgs, o.Key)
			order = append(order, "CASE WHEN "+alias+".is_nan THEN 1 WHEN "+alias+".value IS NULL THEN 2 ELSE 0 END", alias+".value"+direction(o.Asc))
		case tracking.KeyParam, tracking.KeyTag:
			table := map[string]string{tracking.KeyParam: "params", tracking.KeyTag: "tags"}[o.KeyType]
			joins = append(joins, "LEFT JOIN "+table+" "+alias+" ON "+alias+".rid = r.rid AND "+alias+".key = ?")
			joinArgs = append(joinArgs, o.Key)
			order = append(order, "("+alias+".value IS NULL)", alias+".value"+direction(o.Asc))
		default:
			return nil, "", lode.Errorf(lode.EInvalid, "Invalid order_by entity type '%s'", o.KeyType)
		}
	}
	if !seen[tracking.KeyAttribute+".start_time"] {
		order = append(order, "r.start_time DESC")
	}
	order = append(order, "r.run_uuid")

	query := `SELECT ` + runColumns + ` FROM runs r ` + strings.Join(joins, " ") +
		` WHERE ` + where.cond() + ` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ? OFFSET ?`
	type found struct {
		rid  int64
		info *tracking.RunInfo
	}
	page, next, err := queryPage(ctx, db.r, query, append(joinArgs, where.args...), q.MaxResults, offset, func(rows Rows) (found, error) {
		rid, ri, err := scanRunInfo(rows)
		return found{rid, ri}, err
	})
	if err != nil {
		return nil, "", err
	}
	runs := make([]*tracking.Run, len(page))
	rids := make([]int64, len(page))
	for i, f := range page {
		runs[i], rids[i] = &tracking.Run{Info: *f.info}, f.rid
	}
	// Where the dialect bounds a statement's arguments, load data in
	// slices of as many runs as one list may name.
	per := db.d.maxRows(1)
	if per == 0 {
		per = max(1, len(rids))
	}
	for start := 0; start < len(rids); start += per {
		end := min(start+per, len(rids))
		if err := db.loadRunData(ctx, rids[start:end], runs[start:end]); err != nil {
			return nil, "", db.dbErr(err)
		}
	}
	return runs, next, nil
}

// presentWhenMatched reports whether a metric comparison with op matches
// only runs that have the metric, not NaN (runFilterSQL's conditions).
func presentWhenMatched(op string) bool {
	switch op {
	case "=", "<", "<=", ">", ">=":
		return true
	}
	return false
}
