package sqlitedriver

import (
	"database/sql"
	"slices"
	"testing"
)

func queryPlan(t testing.TB, db *sql.DB) []string {
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+searchSQL, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}

// TestSamePlan checks that both drivers' engines run the search benchmark
// with the same query plan, with and without the (key, value) index, so the
// benchmark compares drivers rather than planners.
func TestSamePlan(t *testing.T) {
	for _, idx := range []bool{true, false} {
		var plans [][]string
		for _, d := range drivers {
			db := openT(t, d)
			populateSearch(t, db)
			if !idx {
				if _, err := db.Exec(`DROP INDEX latest_metrics_key_value`); err != nil {
					t.Fatal(err)
				}
			}
			p := queryPlan(t, db)
			t.Logf("index=%v %s: %q", idx, d.name, p)
			plans = append(plans, p)
			db.Close()
		}
		if !slices.Equal(plans[0], plans[1]) {
			t.Errorf("index=%v: plans differ: %q vs %q", idx, plans[0], plans[1])
		}
	}
}
