package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode/mlflowapi"
)

func newRunsCmd() *cobra.Command {
	o := &modelsOpts{command: "lode runs"}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show and compare runs on a tracking server",
		Long: `List, show and compare the runs of a tracking server (Lode's or MLflow's),
over the MLflow REST API, without Python.

The server is --tracking-uri, else $MLFLOW_TRACKING_URI, else ` + defaultTrackingURI + `;
credentials come from MLFLOW_TRACKING_USERNAME/PASSWORD or
MLFLOW_TRACKING_TOKEN, as for the mlflow client. Every command prints
readable text, or JSON with --json (runs as the REST API gives them).`,
		Example: `  lode runs list --experiment wine --filter "metrics.rmse < 0.8" --order-by "metrics.rmse ASC"
  lode runs show 3f2a9c...
  lode runs compare 3f2a9c... 81bd0e... --only-diff
  lode runs compare 3f2a9c... 81bd0e... --json | jq '.metrics[] | select(.differ)'`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.trackingURI, "tracking-uri", "", "tracking server URL (default $MLFLOW_TRACKING_URI, else "+defaultTrackingURI+")")
	pf.BoolVar(&o.json, "json", false, "print machine-readable JSON")
	cmd.AddCommand(newRunsListCmd(o), newRunsShowCmd(o), newRunsCompareCmd(o))
	return cmd
}

func newRunsListCmd(o *modelsOpts) *cobra.Command {
	var (
		q           mlflowapi.RunQuery
		experiments []string
		view        string
		maxResults  int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Long: `List runs, newest first unless --order-by says otherwise.

--experiment (an id or a name; repeatable) picks the experiments: by
default every active one, or every one with --view deleted or all.
--filter takes MLflow's run filter ("metrics.rmse < 0.8 and params.alpha =
'0.5'", "attributes.status = 'FINISHED'", "tags.team = 'research'"),
--order-by its ordering ("metrics.rmse ASC", "attributes.start_time DESC";
repeatable).`,
		Example: `  lode runs list --experiment wine
  lode runs list --experiment 1 --experiment 2 --filter "params.alpha = '0.5'" --max-results 10 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxResults < 0 {
				return fmt.Errorf("--max-results must be 0 (all) or more, got %d", maxResults)
			}
			vt, err := viewTypeFlag(view)
			if err != nil {
				return err
			}
			q.ViewType = vt
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			names := map[string]string{} // experiment id -> name, for the table
			if len(experiments) == 0 {
				// Deleted runs may be in active experiments: look in all.
				ev := "ALL"
				if vt == "ACTIVE_ONLY" {
					ev = vt
				}
				all, err := searchExperiments(ctx, c, mlflowapi.ExperimentQuery{ViewType: ev}, 0)
				if err != nil {
					return err
				}
				for _, e := range all {
					q.ExperimentIDs = append(q.ExperimentIDs, e.ExperimentID)
					names[e.ExperimentID] = e.Name
				}
			}
			for _, x := range experiments {
				e, err := findExperiment(ctx, c, x)
				if err != nil {
					return err
				}
				q.ExperimentIDs = append(q.ExperimentIDs, e.ExperimentID)
				names[e.ExperimentID] = e.Name
			}
			runs := []mlflowapi.Run{}
			if len(q.ExperimentIDs) > 0 {
				if runs, err = searchRuns(ctx, c, q, maxResults); err != nil {
					return err
				}
			}
			return o.output(cmd, map[string]any{"runs": runs}, func(w io.Writer) error {
				if len(runs) == 0 {
					_, err := fmt.Fprintln(w, "No runs.")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN ID\tNAME\tEXPERIMENT\tSTATUS\tSTARTED\tDURATION")
				for _, r := range runs {
					exp := r.Info.ExperimentID
					if n := names[exp]; n != "" {
						exp += " (" + oneLine(n, 30) + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Info.RunID, orDash(oneLine(r.Info.RunName, 40)), exp,
						r.Info.Status, fmtTime(r.Info.StartTime), runDuration(r.Info))
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&experiments, "experiment", "e", nil, "experiment id or name (repeatable; default: every active experiment)")
	f.StringVar(&q.Filter, "filter", "", "MLflow run filter, e.g. \"metrics.rmse < 0.8\"")
	f.StringArrayVar(&q.OrderBy, "order-by", nil, "ordering, e.g. \"metrics.rmse ASC\" (repeatable)")
	f.StringVar(&view, "view", "active", "which runs: active, deleted or all")
	f.IntVar(&maxResults, "max-results", 100, "show at most this many runs (0: all)")
	return cmd
}

func newRunsShowCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run: its params, metrics and tags",
		Long: `Show a run: what it is (name, experiment, status, times, user, artifact
URI), its params, the latest value of each metric (with its step), and its
tags.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"run": r}, func(w io.Writer) error { return runDetail(w, r) })
		},
	}
}

func newRunsCompareCmd(o *modelsOpts) *cobra.Command {
	var onlyDiff bool
	cmd := &cobra.Command{
		Use:   "compare RUN_ID RUN_ID...",
		Short: "Compare runs' params, metrics and tags side by side",
		Long: `Compare runs side by side: one column per run, one row per param, metric
(its latest value) and tag (the mlflow.* system tags left out). Rows whose
values differ between the runs, or that some runs lack, are marked with *;
--only-diff keeps only those.

With --json: the runs, then "params", "metrics" and "tags", each a list of
{"key", "values" (one per run, in the order given; null where a run lacks
it), "differ"}.`,
		Example: `  lode runs compare 3f2a9c... 81bd0e...
  lode runs compare 3f2a9c... 81bd0e... 0c77aa... --only-diff --json`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			runs := make([]*mlflowapi.Run, len(args))
			for i, id := range args {
				if runs[i], err = c.GetRun(cmd.Context(), id); err != nil {
					return fmt.Errorf("run %s: %w", id, err)
				}
			}
			cmp := compareRuns(runs, onlyDiff)
			return o.output(cmd, cmp, func(w io.Writer) error { return comparisonTable(w, cmp) })
		},
	}
	cmd.Flags().BoolVar(&onlyDiff, "only-diff", false, "show only what differs between the runs")
	return cmd
}

// searchRuns pages through a search until max runs (0: all).
func searchRuns(ctx context.Context, c *mlflowapi.Client, q mlflowapi.RunQuery, max int) ([]mlflowapi.Run, error) {
	out := []mlflowapi.Run{}
	for {
		q.MaxResults = searchPage
		if max > 0 && max-len(out) < q.MaxResults {
			q.MaxResults = max - len(out)
		}
		page, next, err := c.SearchRuns(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || next == q.PageToken || (max > 0 && len(out) >= max) {
			return out, nil
		}
		q.PageToken = next
	}
}

// runDuration is how long a run ran, or has been running.
func runDuration(ri mlflowapi.RunInfo) string {
	if ri.StartTime <= 0 {
		return "-"
	}
	end := time.Now().UnixMilli()
	if ri.EndTime != nil {
		end = *ri.EndTime
	}
	if end < ri.StartTime {
		return "-"
	}
	d := time.Duration(end-ri.StartTime) * time.Millisecond
	if d >= time.Second {
		d = d.Round(time.Second)
	}
	return d.String()
}

// metricText writes a metric's value as Go's shortest exact form: what
// was logged, digit for digit.
func metricText(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// runDetail writes everything about one run.
func runDetail(w io.Writer, r *mlflowapi.Run) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ri := r.Info
	end := "-"
	if ri.EndTime != nil {
		end = fmtTime(*ri.EndTime)
	}
	fmt.Fprintf(tw, "Run:\t%s\n", ri.RunID)
	fmt.Fprintf(tw, "Name:\t%s\n", orDash(ri.RunName))
	fmt.Fprintf(tw, "Experiment:\t%s\n", ri.ExperimentID)
	fmt.Fprintf(tw, "Status:\t%s\n", ri.Status)
	fmt.Fprintf(tw, "State:\t%s\n", strings.ToLower(ri.LifecycleStage))
	fmt.Fprintf(tw, "User:\t%s\n", orDash(ri.UserID))
	fmt.Fprintf(tw, "Started:\t%s\n", fmtTime(ri.StartTime))
	fmt.Fprintf(tw, "Ended:\t%s\n", end)
	fmt.Fprintf(tw, "Duration:\t%s\n", runDuration(ri))
	fmt.Fprintf(tw, "Artifacts:\t%s\n", orDash(ri.ArtifactURI))
	if err := tw.Flush(); err != nil {
		return err
	}
	section := func(title string, n int, rows func(tw *tabwriter.Writer)) error {
		if n == 0 {
			_, err := fmt.Fprintf(w, "\n%s: none\n", title)
			return err
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		rows(tw)
		return tw.Flush()
	}
	params := sortedTags(r.Data.Params)
	if err := section("Params", len(params), func(tw *tabwriter.Writer) {
		for _, p := range params {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Key, oneLine(p.Value, 200))
		}
	}); err != nil {
		return err
	}
	metrics := append([]mlflowapi.Metric(nil), r.Data.Metrics...)
	sort.Slice(metrics, func(i, j int) bool { return metrics[i].Key < metrics[j].Key })
	if err := section("Metrics", len(metrics), func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "  KEY\tVALUE\tSTEP\tLOGGED")
		for _, m := range metrics {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", m.Key, metricText(m.Float()), m.Step, fmtTime(m.Timestamp))
		}
	}); err != nil {
		return err
	}
	tags := sortedTags(r.Data.Tags)
	return section("Tags", len(tags), func(tw *tabwriter.Writer) {
		for _, t := range tags {
			fmt.Fprintf(tw, "  %s\t%s\n", t.Key, oneLine(t.Value, 200))
		}
	})
}

func sortedTags(ts []mlflowapi.Tag) []mlflowapi.Tag {
	out := append([]mlflowapi.Tag(nil), ts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// comparison is runs side by side, as `lode runs compare` prints it.
type comparison struct {
	Runs    []comparedRun `json:"runs"`
	Params  []compareRow  `json:"params"`
	Metrics []compareRow  `json:"metrics"`
	Tags    []compareRow  `json:"tags"`
}

type comparedRun struct {
	RunID        string `json:"run_id"`
	RunName      string `json:"run_name"`
	ExperimentID string `json:"experiment_id"`
	Status       string `json:"status"`
}

// compareRow is one key across the runs: Values[i] is run i's (nil where
// it lacks the key).
type compareRow struct {
	Key    string   `json:"key"`
	Values []any    `json:"values"`
	Differ bool     `json:"differ"`
	text   []string // the cells of the table
	first  string   // the first run's exact value
}

// add appends one run's value: exact is its full text, what equality is
// judged on ("" with ok false where the run lacks the key).
func (r *compareRow) add(v any, exact, cell string, ok bool) {
	if !ok {
		r.Values, r.text, r.Differ = append(r.Values, nil), append(r.text, "-"), true
		return
	}
	if len(r.Values) > 0 && (r.Values[0] == nil || exact != r.first) {
		r.Differ = true
	}
	if len(r.Values) == 0 {
		r.first = exact
	}
	r.Values, r.text = append(r.Values, v), append(r.text, cell)
}

// compareRuns lines the runs' params, metrics and tags up by key.
func compareRuns(runs []*mlflowapi.Run, onlyDiff bool) comparison {
	cmp := comparison{Params: []compareRow{}, Metrics: []compareRow{}, Tags: []compareRow{}}
	params := make([]map[string]string, len(runs))
	tags := make([]map[string]string, len(runs))
	metrics := make([]map[string]mlflowapi.Metric, len(runs))
	for i, r := range runs {
		cmp.Runs = append(cmp.Runs, comparedRun{RunID: r.Info.RunID, RunName: r.Info.RunName, ExperimentID: r.Info.ExperimentID, Status: r.Info.Status})
		params[i], tags[i], metrics[i] = map[string]string{}, map[string]string{}, map[string]mlflowapi.Metric{}
		for _, p := range r.Data.Params {
			params[i][p.Key] = p.Value
		}
		for _, t := range r.Data.Tags {
			if !strings.HasPrefix(t.Key, "mlflow.") {
				tags[i][t.Key] = t.Value
			}
		}
		for _, m := range r.Data.Metrics {
			metrics[i][m.Key] = m
		}
	}
	keep := func(rows []compareRow, row compareRow) []compareRow {
		if row.Differ || !onlyDiff {
			rows = append(rows, row)
		}
		return rows
	}
	for _, s := range []struct {
		maps []map[string]string
		rows *[]compareRow
	}{{params, &cmp.Params}, {tags, &cmp.Tags}} {
		for _, k := range unionKeys(s.maps) {
			row := compareRow{Key: k}
			for _, m := range s.maps {
				v, ok := m[k]
				row.add(v, v, oneLine(v, 40), ok)
			}
			*s.rows = keep(*s.rows, row)
		}
	}
	for _, k := range unionKeys(metrics) {
		row := compareRow{Key: k}
		for _, m := range metrics {
			v, ok := m[k]
			// The value as the API writes it (NaN and infinities as
			// strings); its shortest exact text is equal where it is.
			text := metricText(v.Float())
			row.add(v.Value, text, text, ok)
		}
		cmp.Metrics = keep(cmp.Metrics, row)
	}
	return cmp
}

func unionKeys[V any](ms []map[string]V) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// comparisonTable writes the comparison as a table, one column per run.
func comparisonTable(w io.Writer, cmp comparison) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cells := func(mark, label string, vals []string) {
		fmt.Fprintf(tw, "%s %s\t%s\n", mark, label, strings.Join(vals, "\t"))
	}
	ids, names := make([]string, len(cmp.Runs)), make([]string, len(cmp.Runs))
	for i, r := range cmp.Runs {
		ids[i], names[i] = shortID(r.RunID, cmp.Runs), orDash(oneLine(r.RunName, 40))
	}
	cells(" ", "RUN", ids)
	cells(" ", "name", names)
	marked := false
	for _, s := range []struct {
		title string
		rows  []compareRow
	}{{"params", cmp.Params}, {"metrics", cmp.Metrics}, {"tags", cmp.Tags}} {
		if len(s.rows) == 0 {
			continue
		}
		cells(" ", "", make([]string, len(cmp.Runs)))
		cells(" ", s.title+":", make([]string, len(cmp.Runs)))
		for _, r := range s.rows {
			mark := " "
			if r.Differ {
				mark, marked = "*", true
			}
			cells(mark, "  "+r.Key, r.text)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if marked {
		_, err := fmt.Fprintln(w, "\n* differs between the runs")
		return err
	}
	if len(cmp.Params)+len(cmp.Metrics)+len(cmp.Tags) == 0 {
		_, err := fmt.Fprintln(w, "\nNo params, metrics or tags differ.")
		return err
	}
	return nil
}

// shortID is id's first 8 characters when no other run's begin the same,
// else the whole id.
func shortID(id string, runs []comparedRun) string {
	if len(id) <= 8 {
		return id
	}
	for _, r := range runs {
		if r.RunID != id && strings.HasPrefix(r.RunID, id[:8]) {
			return id
		}
	}
	return id[:8]
}
