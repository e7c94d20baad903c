package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tune"
	"github.com/lode-ml/lode/tuner"
)

// studyPoll is how often `lode tune --wait` looks at its study.
const studyPoll = time.Second

func newTuneCmd() *cobra.Command {
	o := &modelsOpts{command: "lode tune"}
	var (
		over    tuneOverrides
		workdir string
		wait    bool
	)
	cmd := &cobra.Command{
		Use:   "tune STUDY.yaml",
		Short: "Tune hyperparameters: run a study's trials as jobs on a Lode server",
		Long: `Start a hyperparameter study on a ` + "`lode server`" + `. The study file names the
search space, the objective (a metric each trial logs with the mlflow
client), the searcher (grid, random or tpe, with asha or hyperband pruning),
the budget and the trial: a command, or an MLproject entry point. The server
runs each trial as a job whose run is a child of the study's run, reads the
objective from the trial's metric history, stops the trials the pruner
prunes, and keeps going after a restart. See docs/tuning.md.

A trial gets its parameters as {name} in its command (shell-quoted), as
-P name=value for an MLproject, as run params, and as environment variables
LODE_PARAM_<NAME> (upper-cased; characters other than letters, digits and
_ become _), with LODE_STUDY_ID, LODE_STUDY_NAME and LODE_TRIAL_NUMBER.

Trials run in --workdir (default: the study file's directory), on the
server's machine; each trial gets a snapshot of it, as a job does.

The server is --tracking-uri, else $MLFLOW_TRACKING_URI, else ` + defaultTrackingURI + `.`,
		Example: `  lode tune study.yaml --wait
  lode tune study.yaml --name lr-sweep-2 --max-trials 50 --max-parallel 4
  lode tune list
  lode tune show lr-sweep
  lode tune stop lr-sweep
  lode tune resume lr-sweep`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := readStudyFile(args[0])
			if err != nil {
				return err
			}
			if err := over.apply(cmd, &spec); err != nil {
				return err
			}
			if workdir == "" {
				workdir = filepath.Dir(args[0])
			}
			if spec.WorkDir, err = filepath.Abs(workdir); err != nil {
				return fmt.Errorf("--workdir %s: %w", workdir, err)
			}
			spec.User = currentUser()
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if spec.Experiment != "" {
				if spec.ExperimentID != "" {
					return errors.New("the study names both experiment and experiment_id: give one")
				}
				if spec.ExperimentID, err = experimentFor(ctx, c, spec.Experiment); err != nil {
					return err
				}
				spec.Experiment = ""
			}
			v, err := c.CreateStudy(ctx, spec)
			if err != nil {
				return err
			}
			if !wait {
				return o.output(cmd, map[string]any{"study": v}, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Started study %s (id %d, run %s).\nFollow it: lode tune show %s\n", v.Name, v.ID, v.RunID, v.Name)
					return err
				})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lode: started study %s (id %d, run %s)\n", v.Name, v.ID, v.RunID)
			end, err := waitStudy(ctx, c, v.ID, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := o.output(cmd, map[string]any{"study": end}, func(w io.Writer) error { return studyDetail(w, end) }); err != nil {
				return err
			}
			if end.Status != tuner.StatusFinished {
				return fmt.Errorf("study %s ended %s: %s", end.Name, end.Status, end.Reason)
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&o.trackingURI, "tracking-uri", "", "Lode server URL")
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON")
	f := cmd.Flags()
	f.StringVar(&over.name, "name", "", "study name (overrides the file's)")
	f.StringVar(&over.experiment, "experiment-name", "", "experiment, by name, created if missing (overrides the file's)")
	f.StringVar(&over.experimentID, "experiment-id", "", "experiment, by id (overrides the file's)")
	f.IntVar(&over.maxTrials, "max-trials", 0, "budget: trials at most (overrides the file's)")
	f.IntVar(&over.maxParallel, "max-parallel", 0, "budget: trials at once (overrides the file's)")
	f.StringVar(&over.maxTime, "max-time", "", "budget: time at most, e.g. 30m (overrides the file's)")
	f.StringVar(&over.algorithm, "algorithm", "", "searcher: grid, random or tpe (overrides the file's)")
	f.Uint64Var(&over.seed, "seed", 0, "searcher's seed (overrides the file's)")
	f.StringVar(&workdir, "workdir", "", "directory trials run in, on the server's machine (default: the study file's directory)")
	f.BoolVar(&wait, "wait", false, "wait until the study ends, printing each trial as it ends; exit 1 unless it finished")
	cmd.AddCommand(newTuneListCmd(o), newTuneShowCmd(o), newTuneStopCmd(o), newTuneResumeCmd(o))
	return cmd
}

// tuneOverrides are the flags that override a study file's fields.
type tuneOverrides struct {
	name, experiment, experimentID, maxTime, algorithm string
	maxTrials, maxParallel                             int
	seed                                               uint64
}

func (ov *tuneOverrides) apply(cmd *cobra.Command, sp *tuner.Spec) error {
	set := func(name string) bool { return cmd.Flags().Changed(name) }
	if set("name") {
		sp.Name = ov.name
	}
	if set("experiment-name") && set("experiment-id") {
		return errors.New("--experiment-name and --experiment-id do not go together")
	}
	if set("experiment-name") {
		sp.Experiment, sp.ExperimentID = ov.experiment, ""
	}
	if set("experiment-id") {
		sp.Experiment, sp.ExperimentID = "", ov.experimentID
	}
	if set("max-trials") {
		sp.Budget.MaxTrials = ov.maxTrials
	}
	if set("max-parallel") {
		sp.Budget.MaxParallel = ov.maxParallel
	}
	if set("max-time") {
		sp.Budget.MaxTime = ov.maxTime
	}
	if set("algorithm") {
		sp.Search.Algorithm = tune.Algorithm(ov.algorithm)
	}
	if set("seed") {
		sp.Search.Seed = ov.seed
	}
	return nil
}

// readStudyFile reads a study file (YAML, or JSON, which YAML reads too);
// unknown fields are errors, so that a misspelt one is not ignored.
func readStudyFile(path string) (tuner.Spec, error) {
	var sp tuner.Spec
	data, err := os.ReadFile(path)
	if err != nil {
		return sp, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sp); err != nil && !errors.Is(err, io.EOF) {
		return sp, fmt.Errorf("%s: %w", path, err)
	}
	if r := sp.Trial.FileResources; r != nil {
		if math.IsNaN(r.CPUs) || r.CPUs < 0 || r.CPUs > 1e12 {
			return sp, fmt.Errorf("%s: trial.resources.cpus must be a number of cores, 0 or more, got %v", path, r.CPUs)
		}
		sp.Trial.Resources.MilliCPU = int64(math.Round(r.CPUs * 1000))
		if r.Memory != "" {
			m, err := parseMemory(r.Memory)
			if err != nil {
				return sp, fmt.Errorf("%s: trial.resources.memory: %w", path, err)
			}
			sp.Trial.Resources.MemoryBytes = m
		}
		sp.Trial.Resources.GPUs = r.GPUs
		sp.Trial.FileResources = nil
	}
	return sp, nil
}

// experimentFor returns the id of the experiment named name, creating it
// if it does not exist (as mlflow.set_experiment does).
func experimentFor(ctx context.Context, c *mlflowapi.Client, name string) (string, error) {
	id, err := c.ExperimentIDByName(ctx, name)
	if err == nil {
		return id, nil
	}
	if lode.ErrorCode(err) != lode.ENotFound {
		return "", err
	}
	return c.CreateExperiment(ctx, name)
}

// waitStudy polls a study until it is no longer running, writing each
// trial to status as it ends.
func waitStudy(ctx context.Context, c *mlflowapi.Client, id int64, status io.Writer) (*tuner.View, error) {
	ref := fmt.Sprint(id)
	seen := map[int]bool{}
	for {
		v, err := c.GetStudy(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, t := range v.Trials {
			if seen[t.Number] || t.State == tune.Running || t.State == tune.Waiting {
				continue
			}
			seen[t.Number] = true
			fmt.Fprintf(status, "lode: trial %d %s %s %s\n", t.Number, t.State, valueText(t.Value), paramsText(t.Params))
		}
		if v.Status != tuner.StatusRunning {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting; the study goes on (lode tune show %d): %w", id, ctx.Err())
		case <-time.After(studyPoll):
		}
	}
}

func valueText(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.6g", *v)
}

func paramsText(p tune.Params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tune.FormatValue(p[k])
	}
	return strings.Join(parts, " ")
}

func studyDetail(w io.Writer, v *tuner.View) error {
	fmt.Fprintf(w, "Study %s (id %d)\n  status:      %s", v.Name, v.ID, v.Status)
	if v.Reason != "" {
		fmt.Fprintf(w, " (%s)", v.Reason)
	}
	fmt.Fprintf(w, "\n  experiment:  %s\n  run:         %s\n  objective:   %s %s (%s value)\n  searcher:    %s, pruner %s\n",
		v.ExperimentID, v.RunID, v.Spec.Objective.Direction, v.Spec.Objective.Metric, v.Spec.Objective.Use,
		orDefault(string(v.Spec.Search.Algorithm), "tpe"), orDefault(string(v.Spec.Search.Pruner.Type), "none"))
	if v.Best != nil {
		fmt.Fprintf(w, "  best:        trial %d, %s = %s, %s\n", v.Best.Number, v.Spec.Objective.Metric, valueText(v.Best.Value), paramsText(v.Best.Params))
	}
	if len(v.Trials) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTRIAL\tSTATE\tVALUE\tSTEPS\tPARAMS\tREASON")
	for _, t := range v.Trials {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", t.Number, t.State, valueText(t.Value), len(t.Intermediate), paramsText(t.Params), t.Reason)
	}
	return tw.Flush()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func newTuneListCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List studies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			vs, err := c.ListStudies(cmd.Context())
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"studies": vs}, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tTRIALS\tBEST\tEXPERIMENT")
				for _, v := range vs {
					n := 0
					for _, c := range v.TrialCounts {
						n += c
					}
					best := "-"
					if v.Best != nil {
						best = valueText(v.Best.Value)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", v.ID, v.Name, v.Status, n, best, v.ExperimentID)
				}
				return tw.Flush()
			})
		},
	}
}

func newTuneShowCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a study and its trials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.GetStudy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"study": v}, func(w io.Writer) error { return studyDetail(w, v) })
		},
	}
}

func newTuneStopCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "stop NAME|ID",
		Short: "Stop a running study: its running trials are cancelled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return studyAction(cmd, o, args[0], "Stopped", (*mlflowapi.Client).StopStudy)
		},
	}
}

func newTuneResumeCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "resume NAME|ID",
		Short: "Resume a stopped or failed study",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return studyAction(cmd, o, args[0], "Resumed", (*mlflowapi.Client).ResumeStudy)
		},
	}
}

func studyAction(cmd *cobra.Command, o *modelsOpts, ref, done string, act func(*mlflowapi.Client, context.Context, string) (*tuner.View, error)) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	v, err := act(c, cmd.Context(), ref)
	if err != nil {
		return err
	}
	return o.output(cmd, map[string]any{"study": v}, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s study %s (id %d): %s\n", done, v.Name, v.ID, v.Status)
		return err
	})
}
