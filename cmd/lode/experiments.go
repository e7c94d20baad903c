package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
)

// searchPage is the page size the list commands ask the server for.
const searchPage = 1000

func newExperimentsCmd() *cobra.Command {
	o := &modelsOpts{command: "lode experiments"}
	cmd := &cobra.Command{
		Use:     "experiments",
		Aliases: []string{"experiment", "exp"},
		Short:   "List, create and delete experiments on a tracking server",
		Long: `List, create and delete the experiments of a tracking server (Lode's or
MLflow's), over the MLflow REST API. An experiment is named by its id or,
where the id is not a number of one, by its name.

The server is --tracking-uri, else $MLFLOW_TRACKING_URI, else ` + defaultTrackingURI + `;
credentials come from MLFLOW_TRACKING_USERNAME/PASSWORD or
MLFLOW_TRACKING_TOKEN, as for the mlflow client. Every command prints a
readable table, or JSON with --json (experiments as the REST API gives them).`,
		Example: `  lode experiments list
  lode experiments list --filter "name LIKE 'wine%'" --json
  lode experiments create wine --tag team=research
  lode experiments delete wine`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.trackingURI, "tracking-uri", "", "tracking server URL (default $MLFLOW_TRACKING_URI, else "+defaultTrackingURI+")")
	pf.BoolVar(&o.json, "json", false, "print machine-readable JSON")
	cmd.AddCommand(newExperimentsListCmd(o), newExperimentsCreateCmd(o), newExperimentsDeleteCmd(o))
	return cmd
}

func newExperimentsListCmd(o *modelsOpts) *cobra.Command {
	var (
		q          mlflowapi.ExperimentQuery
		view       string
		maxResults int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List experiments",
		Long: `List experiments, by default the active ones, newest first. --filter takes
MLflow's experiment filter ("name LIKE 'wine%'", "tags.team = 'research'"),
--order-by its ordering ("name ASC", "creation_time DESC"; repeatable).`,
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
			exps, err := searchExperiments(cmd.Context(), c, q, maxResults)
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"experiments": exps}, func(w io.Writer) error {
				if len(exps) == 0 {
					_, err := fmt.Fprintln(w, "No experiments.")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCREATED\tLAST UPDATED\tARTIFACT LOCATION")
				for _, e := range exps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ExperimentID, oneLine(e.Name, 50), strings.ToLower(e.LifecycleStage),
						fmtTime(e.CreationTime), fmtTime(e.LastUpdateTime), orDash(e.ArtifactLocation))
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Filter, "filter", "", "MLflow experiment filter, e.g. \"name LIKE 'wine%'\"")
	f.StringArrayVar(&q.OrderBy, "order-by", nil, "ordering, e.g. \"name ASC\" (repeatable)")
	f.StringVar(&view, "view", "active", "which experiments: active, deleted or all")
	f.IntVar(&maxResults, "max-results", 100, "show at most this many (0: all)")
	return cmd
}

func newExperimentsCreateCmd(o *modelsOpts) *cobra.Command {
	var (
		location string
		tagArgs  []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an experiment and print its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := keyValues("--tag", tagArgs)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			id, err := c.CreateExperimentWith(cmd.Context(), args[0], location, tags)
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]string{"experiment_id": id}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Created experiment %s with id %s.\n", args[0], id)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&location, "artifact-location", "", "where the experiment's runs keep artifacts (default: the server's artifact root)")
	f.StringArrayVar(&tagArgs, "tag", nil, "tag KEY=VALUE (repeatable)")
	return cmd
}

func newExperimentsDeleteCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "delete EXPERIMENT",
		Short: "Delete an experiment (by id or name) with its runs",
		Long: `Delete an experiment, named by its id or its name, as MLflow deletes one:
it and its runs are marked deleted, and "lode experiments list --view
deleted" still shows it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			e, err := findExperiment(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteExperiment(ctx, e.ExperimentID); err != nil {
				return err
			}
			return o.output(cmd, map[string]string{"deleted": e.ExperimentID}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Deleted experiment %s (%s).\n", e.ExperimentID, e.Name)
				return err
			})
		},
	}
}

// viewTypeFlag turns --view into MLflow's view type.
func viewTypeFlag(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "active":
		return "ACTIVE_ONLY", nil
	case "deleted":
		return "DELETED_ONLY", nil
	case "all":
		return "ALL", nil
	}
	return "", fmt.Errorf("--view %q: want active, deleted or all", v)
}

// keyValues reads KEY=VALUE arguments of flag.
func keyValues(flag string, args []string) ([]mlflowapi.Tag, error) {
	var out []mlflowapi.Tag
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		out = append(out, mlflowapi.Tag{Key: k, Value: v})
	}
	return out, nil
}

// searchExperiments pages through a search until max experiments (0: all).
func searchExperiments(ctx context.Context, c *mlflowapi.Client, q mlflowapi.ExperimentQuery, max int) ([]mlflowapi.Experiment, error) {
	out := []mlflowapi.Experiment{}
	for {
		q.MaxResults = searchPage
		if max > 0 && max-len(out) < q.MaxResults {
			q.MaxResults = max - len(out)
		}
		page, next, err := c.SearchExperiments(ctx, q)
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

// findExperiment finds an experiment by id, else by name: a number is
// taken as an id first, as MLflow's ids are numbers.
func findExperiment(ctx context.Context, c *mlflowapi.Client, idOrName string) (*mlflowapi.Experiment, error) {
	if _, err := strconv.ParseUint(idOrName, 10, 63); err == nil {
		e, err := c.GetExperiment(ctx, idOrName)
		if err == nil || lode.ErrorCode(err) != lode.ENotFound {
			return e, err
		}
	}
	e, err := c.GetExperimentByName(ctx, idOrName)
	if lode.ErrorCode(err) == lode.ENotFound {
		return nil, fmt.Errorf("no experiment with the id or name %q", idOrName)
	}
	return e, err
}
