package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode/serving"
)

func newDeployCmd() *cobra.Command {
	o := &modelsOpts{command: "lode deploy"}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Manage the models a Lode server serves",
		Long: `Manage deployments: models that a running ` + "`lode server`" + ` serves next to
its tracking API. A deployment has a name and a model URI (models:/NAME/VERSION,
models:/NAME@ALIAS, models:/NAME/STAGE or runs:/RUN_ID/PATH). One that follows
an alias switches to the alias's new version when it moves: the new version
is loaded and warmed, then traffic moves to it and the old one drains.

A deployment NAME answers at
  TF Serving REST  http://SERVER/v1/models/NAME[/versions/N|/labels/ALIAS]:predict
  KServe V2        http://SERVER/v2/models/NAME[/versions/N]/infer
  MLflow scoring   http://SERVER/endpoints/NAME/invocations

The server is --tracking-uri, else MLFLOW_TRACKING_URI, else
http://127.0.0.1:5000.`,
		Example: `  lode deploy create wine -m models:/wine@champion --wait
  lode deploy list
  lode deploy delete wine`,
	}
	cmd.PersistentFlags().StringVar(&o.trackingURI, "tracking-uri", "", "Lode server URL")
	cmd.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.AddCommand(newDeployCreateCmd(o), newDeployListCmd(o), newDeployGetCmd(o), newDeployDeleteCmd(o))
	return cmd
}

func newDeployCreateCmd(o *modelsOpts) *cobra.Command {
	var d serving.Deployment
	var timeout time.Duration
	var wait bool
	var waitFor time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME -m MODEL_URI",
		Short: "Deploy a model",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			d.Name, d.TimeoutMillis = args[0], timeout.Milliseconds()
			ctx := cmd.Context()
			st, err := c.CreateDeployment(ctx, d)
			if err != nil {
				return err
			}
			if wait {
				start := time.Now()
				deadline := start.Add(waitFor)
				lastNote := start
				for st.State == serving.StateLoading {
					if time.Now().After(deadline) {
						return fmt.Errorf("deployment %s still loading after %s", d.Name, waitFor)
					}
					if time.Since(lastNote) >= 5*time.Second {
						// Loading a Python model can mean building its
						// environment first: say that work goes on.
						lastNote = time.Now()
						fmt.Fprintf(cmd.ErrOrStderr(), "deployment %s: loading %s (%s; the server's log shows the steps)\n",
							d.Name, d.ModelURI, time.Since(start).Round(time.Second))
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(200 * time.Millisecond):
					}
					if st, err = c.GetDeployment(ctx, d.Name); err != nil {
						return err
					}
				}
				if st.State == serving.StateFailed {
					return fmt.Errorf("deployment %s failed to load: %s", d.Name, st.Error)
				}
			}
			return o.output(cmd, st, func(w io.Writer) error {
				return deploymentTable(w, []serving.DeploymentStatus{*st})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&d.ModelURI, "model-uri", "m", "", "model to serve (required)")
	f.StringVar(&d.Runtime, "runtime", "", "force a runtime: onnx or python (on a server with authentication, users who are not admins deploy with onnx unless it runs with --allow-user-code)")
	f.IntVarP(&d.Workers, "workers", "w", 0, "requests run at once (Python worker processes or concurrent ONNX runs)")
	f.IntVar(&d.MaxQueue, "max-queue", 0, "requests that may wait before the server answers 429 (default: 8 per worker for Python models, 64 per concurrent run for ONNX)")
	f.DurationVarP(&timeout, "timeout", "t", 0, "per-request timeout (default 30s)")
	f.BoolVar(&wait, "wait", false, "wait until the model is loaded")
	f.DurationVar(&waitFor, "wait-timeout", 10*time.Minute, "how long --wait waits")
	cmd.MarkFlagRequired("model-uri")
	return cmd
}

func newDeployListCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List deployments and what they serve",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ds, err := c.ListDeployments(cmd.Context())
			if err != nil {
				return err
			}
			if ds == nil {
				ds = []serving.DeploymentStatus{}
			}
			return o.output(cmd, ds, func(w io.Writer) error { return deploymentTable(w, ds) })
		},
	}
}

func newDeployGetCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one deployment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			st, err := c.GetDeployment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.output(cmd, st, func(w io.Writer) error {
				if err := deploymentTable(w, []serving.DeploymentStatus{*st}); err != nil {
					return err
				}
				if st.Error != "" {
					_, err = fmt.Fprintf(w, "\nlast error: %s\n", st.Error)
				}
				return err
			})
		},
	}
}

func newDeployDeleteCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Stop serving a deployment (requests in flight finish first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.DeleteDeployment(cmd.Context(), args[0]); err != nil {
				return err
			}
			return o.output(cmd, map[string]string{"deleted": args[0]}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Deleted deployment %s\n", args[0])
				return err
			})
		},
	}
}

func deploymentTable(w io.Writer, ds []serving.DeploymentStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMODEL URI\tSTATE\tVERSION\tRUNTIME\tLOADED")
	for _, d := range ds {
		state := string(d.State)
		if d.Loading != "" {
			state += " (loading " + d.Loading + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.ModelURI, state, orDash(d.Version), orDash(d.RuntimeName), fmtTime(d.LoadedAt))
	}
	return tw.Flush()
}
