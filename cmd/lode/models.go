package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlflowapi"
)

// defaultTrackingURI is used when neither --tracking-uri nor
// MLFLOW_TRACKING_URI is set.
const defaultTrackingURI = "http://127.0.0.1:5000"

// modelsOpts are the flags the commands that talk to a server share
// (lode models, deploy, job, token, run, experiments, runs).
type modelsOpts struct {
	command     string // the command group, named in errors: "lode deploy"
	trackingURI string
	json        bool
}

// client returns a registry client for the tracking URI: the flag, else
// MLFLOW_TRACKING_URI, else the local default; credentials and TLS
// settings come from the mlflow client's variables.
func (o *modelsOpts) client() (*mlflowapi.Client, error) {
	uri := o.trackingURI
	if uri == "" {
		uri = os.Getenv("MLFLOW_TRACKING_URI")
	}
	if uri == "" {
		uri = defaultTrackingURI
	}
	lower := strings.ToLower(uri)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return nil, fmt.Errorf("tracking URI %q: %s talks to a server over http:// or https:// (set --tracking-uri or $MLFLOW_TRACKING_URI)", uri, o.command)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return mlflowapi.ClientFromEnv(uri, os.Getenv, tr)
}

// output writes v as indented JSON with --json, else calls text.
func (o *modelsOpts) output(cmd *cobra.Command, v any, text func(w io.Writer) error) error {
	w := cmd.OutOrStdout()
	if o.json {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return text(w)
}

func newModelsCmd() *cobra.Command {
	o := &modelsOpts{command: "lode models"}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Browse the model registry and download model versions",
		Long: `Browse and manage the model registry of a tracking server (Lode's or
MLflow's) and download registered model versions.

The server is --tracking-uri, else $MLFLOW_TRACKING_URI, else ` + defaultTrackingURI + `.
Every command prints a readable table or text, or JSON with --json.`,
		Example: `  lode models list --filter "name LIKE 'fraud%'"
  lode models show fraud-detector
  lode models versions fraud-detector --json
  lode models alias set fraud-detector champion 3
  lode models download models:/fraud-detector@champion --dst ./model`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.trackingURI, "tracking-uri", "", "tracking server URL (default $MLFLOW_TRACKING_URI, else "+defaultTrackingURI+")")
	pf.BoolVar(&o.json, "json", false, "print machine-readable JSON")
	cmd.AddCommand(newModelsListCmd(o), newModelsShowCmd(o), newModelsVersionsCmd(o), newModelsAliasCmd(o), newModelsDownloadCmd(o), newModelsSearchCmd(o))
	return cmd
}

// fmtTime renders an epoch-milliseconds timestamp in local time.
func fmtTime(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05 MST")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table cell on one line and bounded.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

func aliasesText(as []mlflowapi.ModelAlias) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.Alias + "=" + a.Version
	}
	return orDash(strings.Join(parts, ","))
}

func tagsText(ts []mlflowapi.Tag) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Key + "=" + t.Value
	}
	return orDash(strings.Join(parts, ", "))
}

// versionNum orders version strings numerically; non-numbers sort first.
func versionNum(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func latestVersion(vs []mlflowapi.ModelVersion) string {
	best := ""
	for _, v := range vs {
		if best == "" || versionNum(v.Version) > versionNum(best) {
			best = v.Version
		}
	}
	return best
}

func newModelsListCmd(o *modelsOpts) *cobra.Command {
	var (
		filter     string
		maxResults int
		pageSize   int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered models",
		Long: `List registered models, following the server's pages until all (or
--max-results) are shown. --filter takes MLflow's filter syntax, e.g.
"name LIKE 'fraud%'" or "tags.team = 'risk'".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxResults < 0 {
				return fmt.Errorf("--max-results must be 0 (all) or more, got %d", maxResults)
			}
			if pageSize < 1 || pageSize > 1000 {
				return fmt.Errorf("--page-size must be between 1 and 1000, got %d", pageSize)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			models := []mlflowapi.RegisteredModel{}
			token := ""
			for {
				n := pageSize
				if maxResults > 0 && maxResults-len(models) < n {
					n = maxResults - len(models)
				}
				page, next, err := c.SearchRegisteredModels(cmd.Context(), filter, n, token)
				if err != nil {
					return err
				}
				models = append(models, page...)
				if next == "" || next == token || (maxResults > 0 && len(models) >= maxResults) {
					break
				}
				token = next
			}
			if maxResults > 0 && len(models) > maxResults {
				models = models[:maxResults]
			}
			return o.output(cmd, map[string]any{"registered_models": models}, func(w io.Writer) error {
				if len(models) == 0 {
					_, err := fmt.Fprintln(w, "No registered models.")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tLATEST\tALIASES\tUPDATED\tDESCRIPTION")
				for _, m := range models {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, orDash(latestVersion(m.LatestVersions)),
						aliasesText(m.Aliases), fmtTime(m.LastUpdateTime), orDash(oneLine(m.Description, 50)))
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&filter, "filter", "", "MLflow filter string, e.g. \"name LIKE 'fraud%'\"")
	f.IntVar(&maxResults, "max-results", 0, "show at most this many models (0: all)")
	f.IntVar(&pageSize, "page-size", 100, "models asked of the server per request")
	return cmd
}

func newModelsShowCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a registered model: description, tags, aliases, latest versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			m, err := c.GetRegisteredModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"registered_model": m}, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "Name:\t%s\n", m.Name)
				fmt.Fprintf(tw, "Description:\t%s\n", orDash(oneLine(m.Description, 200)))
				fmt.Fprintf(tw, "Created:\t%s\n", fmtTime(m.CreationTime))
				fmt.Fprintf(tw, "Updated:\t%s\n", fmtTime(m.LastUpdateTime))
				if m.UserID != "" {
					fmt.Fprintf(tw, "User:\t%s\n", m.UserID)
				}
				fmt.Fprintf(tw, "Tags:\t%s\n", tagsText(m.Tags))
				fmt.Fprintf(tw, "Aliases:\t%s\n", aliasesText(m.Aliases))
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(m.LatestVersions) == 0 {
					_, err := fmt.Fprintln(w, "Latest versions:  -")
					return err
				}
				fmt.Fprintln(w, "Latest versions:")
				vs := append([]mlflowapi.ModelVersion(nil), m.LatestVersions...)
				sortVersions(vs)
				return versionsTable(w, vs, "  ")
			})
		},
	}
}

func sortVersions(vs []mlflowapi.ModelVersion) {
	sort.SliceStable(vs, func(i, j int) bool { return versionNum(vs[i].Version) > versionNum(vs[j].Version) })
}

func versionsTable(w io.Writer, vs []mlflowapi.ModelVersion, indent string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, indent+"VERSION\tSTAGE\tALIASES\tRUN_ID\tSOURCE\tCREATED")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", indent, v.Version, orDash(v.CurrentStage),
			orDash(strings.Join(v.Aliases, ",")), orDash(v.RunID), orDash(v.Source), fmtTime(v.CreationTime))
	}
	return tw.Flush()
}

// versionFilter is a search filter for the versions of one model, or ""
// when the name holds both quote characters (MLflow's filter strings
// cannot escape them); callers filter by name themselves anyway.
func versionFilter(name string) string {
	switch {
	case !strings.Contains(name, "'"):
		return "name = '" + name + "'"
	case !strings.Contains(name, `"`):
		return `name = "` + name + `"`
	}
	return ""
}

func newModelsVersionsCmd(o *modelsOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a registered model, newest first",
		Long: `List every version of a registered model, newest first, with its stage,
aliases, run id, source and creation time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// Unknown models are an error, not an empty list.
			if _, err := c.GetRegisteredModel(ctx, name); err != nil {
				return err
			}
			vs := []mlflowapi.ModelVersion{}
			token := ""
			for {
				page, next, err := c.SearchModelVersions(ctx, versionFilter(name), []string{"version_number DESC"}, 1000, token)
				if err != nil {
					return err
				}
				for _, v := range page {
					if v.Name == name {
						vs = append(vs, v)
					}
				}
				if next == "" || next == token {
					break
				}
				token = next
			}
			sortVersions(vs)
			return o.output(cmd, map[string]any{"model_versions": vs}, func(w io.Writer) error {
				if len(vs) == 0 {
					_, err := fmt.Fprintf(w, "Model %s has no versions.\n", name)
					return err
				}
				return versionsTable(w, vs, "")
			})
		},
	}
}

func newModelsAliasCmd(o *modelsOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alias",
		Short: "Set or delete an alias of a registered model",
	}
	set := &cobra.Command{
		Use:     "set NAME ALIAS VERSION",
		Short:   "Point ALIAS of model NAME at VERSION",
		Example: "  lode models alias set fraud-detector champion 3",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			name, alias, version := args[0], args[1], args[2]
			if err := c.SetRegisteredModelAlias(cmd.Context(), name, alias, version); err != nil {
				return err
			}
			return o.output(cmd, map[string]string{"name": name, "alias": alias, "version": version}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Alias %s of model %s now points to version %s (models:/%s@%s).\n", alias, name, version, name, alias)
				return err
			})
		},
	}
	del := &cobra.Command{
		Use:     "delete NAME ALIAS",
		Short:   "Delete ALIAS of model NAME",
		Example: "  lode models alias delete fraud-detector champion",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			name, alias := args[0], args[1]
			if err := c.DeleteRegisteredModelAlias(cmd.Context(), name, alias); err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"name": name, "alias": alias, "deleted": true}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Deleted alias %s of model %s.\n", alias, name)
				return err
			})
		},
	}
	cmd.AddCommand(set, del)
	return cmd
}

// modelRef names a model version to download: a version number, an alias,
// "latest" or a stage.
type modelRef struct {
	name, version, alias string
}

// parseModelRef reads models:/NAME/VERSION, models:/NAME/STAGE,
// models:/NAME/latest and models:/NAME@ALIAS, or a plain NAME with
// --version or --alias.
func parseModelRef(arg, version, alias string) (modelRef, error) {
	if rest, ok := strings.CutPrefix(arg, "models:"); ok {
		if version != "" || alias != "" {
			return modelRef{}, errors.New("--version and --alias go with a model NAME, not a models:/ URI")
		}
		rest = strings.TrimLeft(rest, "/")
		if name, suffix, ok := strings.Cut(rest, "/"); ok {
			if name == "" || suffix == "" || strings.Contains(suffix, "/") {
				return modelRef{}, fmt.Errorf("invalid model URI %q: want models:/NAME/VERSION or models:/NAME@ALIAS", arg)
			}
			return modelRef{name: name, version: suffix}, nil
		}
		if i := strings.LastIndex(rest, "@"); i > 0 && i < len(rest)-1 {
			return modelRef{name: rest[:i], alias: rest[i+1:]}, nil
		}
		return modelRef{}, fmt.Errorf("invalid model URI %q: want models:/NAME/VERSION or models:/NAME@ALIAS", arg)
	}
	switch {
	case arg == "":
		return modelRef{}, errors.New("missing model name")
	case version != "" && alias != "":
		return modelRef{}, errors.New("give --version or --alias, not both")
	case version == "" && alias == "":
		return modelRef{}, fmt.Errorf("which version of %s? Give --version N (or latest, or a stage) or --alias A, or a models:/ URI", arg)
	}
	return modelRef{name: arg, version: version, alias: alias}, nil
}

func (r modelRef) String() string {
	if r.alias != "" {
		return "models:/" + r.name + "@" + r.alias
	}
	return "models:/" + r.name + "/" + r.version
}

// resolveVersion returns the version number r names.
func resolveVersion(ctx context.Context, c *mlflowapi.Client, r modelRef) (string, error) {
	if r.alias != "" {
		v, err := c.GetModelVersionByAlias(ctx, r.name, r.alias)
		if err != nil {
			return "", err
		}
		return v.Version, nil
	}
	if versionNum(r.version) > 0 {
		return r.version, nil
	}
	var stages []string
	if !strings.EqualFold(r.version, "latest") {
		stages = []string{r.version}
	}
	vs, err := c.GetLatestVersions(ctx, r.name, stages)
	if err != nil {
		return "", err
	}
	if v := latestVersion(vs); v != "" {
		return v, nil
	}
	if stages == nil {
		return "", lode.Errorf(lode.ENotFound, "Registered model %s has no versions.", r.name)
	}
	return "", lode.Errorf(lode.ENotFound, "Registered model %s has no version in stage %s.", r.name, r.version)
}

// downloadedFile is one file of a download, for --json.
type downloadedFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

func newModelsDownloadCmd(o *modelsOpts) *cobra.Command {
	var dst, version, alias string
	cmd := &cobra.Command{
		Use:   "download URI_OR_NAME --dst DIR",
		Short: "Download the files of a model version",
		Long: `Download every file of a registered model version into --dst, keeping the
directory layout. The version is a models:/ URI (models:/NAME/VERSION,
models:/NAME@ALIAS, models:/NAME/latest, models:/NAME/Production) or a NAME
with --version or --alias. Files come through the server's artifact proxy
(mlflow-artifacts: URIs); each is written to a temporary file and renamed
into place once complete. Names in the server's listings that could leave
--dst are refused before anything is written. A line per file goes to
stderr.`,
		Example: `  lode models download models:/fraud-detector/3 --dst ./model
  lode models download models:/fraud-detector@champion --dst ./model
  lode models download fraud-detector --alias champion --dst ./model`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseModelRef(args[0], version, alias)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			v, err := resolveVersion(ctx, c, ref)
			if err != nil {
				return err
			}
			uri, err := c.GetModelVersionDownloadURI(ctx, ref.name, v)
			if err != nil {
				return err
			}
			root, err := mlflowapi.ProxiedArtifactPath(uri)
			if err != nil {
				return err
			}
			files, err := c.ListArtifactTree(ctx, root)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return lode.Errorf(lode.ENotFound, "No artifacts found at %s (model %s version %s).", uri, ref.name, v)
			}
			got, total, err := downloadFiles(ctx, c, files, dst, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out := map[string]any{"name": ref.name, "version": v, "artifact_uri": uri, "dst": dst, "files": got, "bytes": total}
			if ref.alias != "" {
				out["alias"] = ref.alias
			}
			return o.output(cmd, out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Downloaded %d files (%d bytes) of %s (version %s, %s) to %s\n", len(got), total, ref, v, uri, dst)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dst, "dst", "", "directory to download into (created if missing)")
	f.StringVar(&version, "version", "", "version of model NAME: a number, latest, or a stage")
	f.StringVar(&alias, "alias", "", "alias of model NAME")
	cmd.MarkFlagRequired("dst")
	return cmd
}

// downloadFiles writes files under dst. Each is written to a temporary
// file next to its target and renamed into place when complete; all file
// operations go through an os.Root, so no name (nor a symlink already in
// dst) can reach outside dst.
func downloadFiles(ctx context.Context, c *mlflowapi.Client, files []mlflowapi.ArtifactFile, dst string, progress io.Writer) ([]downloadedFile, int64, error) {
	if dst == "" {
		return nil, 0, errors.New("--dst must name a directory")
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, 0, err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, 0, err
	}
	defer root.Close()
	got := make([]downloadedFile, 0, len(files))
	var total int64
	for i, f := range files {
		if why := mlflowapi.SafeRelPath(f.Rel); why != "" {
			return nil, 0, fmt.Errorf("refusing to write %q: %s", f.Rel, why)
		}
		n, err := downloadOne(ctx, c, root, f)
		if err != nil {
			return nil, 0, fmt.Errorf("downloading %s: %w", f.Rel, err)
		}
		total += n
		got = append(got, downloadedFile{Path: f.Rel, Size: n})
		fmt.Fprintf(progress, "[%d/%d] %s (%d bytes)\n", i+1, len(files), f.Rel, n)
	}
	return got, total, nil
}

func downloadOne(ctx context.Context, c *mlflowapi.Client, root *os.Root, f mlflowapi.ArtifactFile) (n int64, err error) {
	rel := filepath.FromSlash(f.Rel)
	if dir := path.Dir(f.Rel); dir != "." {
		if err := root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return 0, err
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(rel), ".lode-download-"+hex.EncodeToString(rnd[:]))
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			out.Close()
			root.Remove(tmp)
		}
	}()
	body, size, err := c.OpenArtifact(ctx, f.Path)
	if err != nil {
		return 0, err
	}
	n, err = io.Copy(out, body)
	body.Close()
	if err != nil {
		return n, err
	}
	if size >= 0 && n != size {
		return n, fmt.Errorf("got %d bytes, the server announced %d", n, size)
	}
	if err = out.Sync(); err != nil {
		return n, err
	}
	if err = out.Close(); err != nil {
		return n, err
	}
	if err = root.Rename(tmp, rel); err != nil {
		return n, err
	}
	return n, nil
}

// newModelsSearchCmd searches the model library: registered model versions
// by name, tags, flavor and signature.
func newModelsSearchCmd(o *modelsOpts) *cobra.Command {
	var (
		name, flavor, inputType, outputType string
		tags                                []string
		inputs, outputs, maxResults         int
		all                                 bool
	)
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Find models by name, tag, flavor and signature (the model library)",
		Long: `Search the model library: registered model versions by name pattern, tags,
flavor and the shape of their signature. For example, the models that take
11 float columns:

  lode models search --inputs 11 --input-type float

Only each model's newest matching version is shown unless --all-versions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			setNonEmpty := func(k, v string) {
				if v != "" {
					q.Set(k, v)
				}
			}
			setNonEmpty("name", name)
			setNonEmpty("flavor", flavor)
			setNonEmpty("input_type", inputType)
			setNonEmpty("output_type", outputType)
			if inputs > 0 {
				q.Set("input_columns", strconv.Itoa(inputs))
			}
			if outputs > 0 {
				q.Set("output_columns", strconv.Itoa(outputs))
			}
			if maxResults > 0 {
				q.Set("max_results", strconv.Itoa(maxResults))
			}
			if !all {
				q.Set("latest_only", "true")
			}
			for _, t := range tags {
				q.Add("tag", t)
			}
			vs, err := c.SearchLibrary(cmd.Context(), q)
			if err != nil {
				return err
			}
			return o.output(cmd, map[string]any{"model_versions": vs}, func(w io.Writer) error {
				if len(vs) == 0 {
					_, err := fmt.Fprintln(w, "No models match.")
					return err
				}
				shape := func(n int, types []string) string {
					if n < 0 {
						return "-"
					}
					return fmt.Sprintf("%d x %s", n, strings.Join(types, "|"))
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tFLAVORS\tINPUTS\tOUTPUTS\tSTAGE")
				for _, v := range vs {
					lib := v.Library
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Version, orDash(strings.Join(lib.Flavors, ",")),
						shape(lib.InputColumns, lib.InputTypes), shape(lib.OutputColumns, lib.OutputTypes), v.CurrentStage)
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "model name pattern (SQL LIKE: 'fraud%')")
	f.StringSliceVar(&tags, "tag", nil, "registered model tag key=value (repeatable)")
	f.StringVar(&flavor, "flavor", "", "flavor the model has: sklearn, onnx, python_function, ...")
	f.IntVar(&inputs, "inputs", 0, "number of input columns")
	f.StringVar(&inputType, "input-type", "", "input type: float, int, string, bool, ...")
	f.IntVar(&outputs, "outputs", 0, "number of output columns")
	f.StringVar(&outputType, "output-type", "", "output type")
	f.IntVar(&maxResults, "max-results", 0, "at most this many versions (server default 100)")
	f.BoolVar(&all, "all-versions", false, "show every matching version, not only the newest per model")
	return cmd
}
