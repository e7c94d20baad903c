package mlflowapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

// MLflow's limits on one GraphQL request (mlflow/server/graphql), which
// keep a request from batching many reads into one: fields at the top
// level, aliases in one selection set, nesting depth and selections in all.
const (
	GraphQLMaxRootFields = 10
	GraphQLMaxAliases    = 10
	GraphQLMaxDepth      = 10
	GraphQLMaxSelections = 1000
)

// newGraphQL parses the schema and binds it to the server's resolvers.
// graph-gophers executes; its own depth and selection bounds back up the
// scan of checkGraphQLLimits, which answers first with MLflow's messages.
func (s *Server) newGraphQL() *graphql.Schema {
	return graphql.MustParseSchema(graphqlSchema, &gqlRoot{s: s}, graphql.UseFieldResolvers(),
		graphql.MaxDepth(GraphQLMaxDepth), graphql.MaxSelections(GraphQLMaxSelections))
}

// serveGraphQL answers POST /graphql ({"query", "variables",
// "operationName"} as JSON) and GET /graphql (the same as query
// parameters, variables as JSON text) as MLflow's server does: status 200
// and {"data": ..., "errors": [message, ...] or null}. A request that is
// no GraphQL request at all is refused with 400, where MLflow fails with
// 500.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName *string        `json:"operationName"`
	}
	if r.Method == http.MethodGet {
		q, err := query(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req.Query = q.Get("query")
		if v := q.Get("operationName"); v != "" {
			req.OperationName = &v
		}
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				s.writeError(w, r, lode.Errorf(lode.EInvalid, "Invalid value for parameter 'variables': it must be a JSON object."))
				return
			}
		}
	} else if err := s.decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Query == "" {
		s.writeError(w, r, lode.Errorf(lode.EInvalid, "Missing value for required parameter 'query'."))
		return
	}
	if msg := checkGraphQLLimits(req.Query); msg != "" {
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": []string{msg}})
		return
	}
	op := ""
	if req.OperationName != nil {
		op = *req.OperationName
	}
	resp := s.gql.Exec(r.Context(), req.Query, op, req.Variables)
	out := struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}{Data: resp.Data}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage("null")
	}
	for _, e := range resp.Errors {
		out.Errors = append(out.Errors, e.Message)
	}
	writeJSON(w, http.StatusOK, out)
}

// checkGraphQLLimits returns why a query document breaks MLflow's limits
// (or fails to parse), or "". It counts as MLflow does: the fields of a
// selection set include those of the fragments spread or inlined into it;
// root fields are summed over the document's operations, aliases are
// counted per selection set and the largest count is held to the limit;
// the top level is depth 1.
func checkGraphQLLimits(query string) string {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		var gerr interface{ Unwrap() []error }
		if errors.As(err, &gerr) && len(gerr.Unwrap()) > 0 {
			return gerr.Unwrap()[0].Error()
		}
		return err.Error()
	}
	type level struct {
		set   ast.SelectionSet
		depth int
	}
	roots, aliases, selections := 0, 0, 0
	for _, op := range doc.Operations {
		stack := []level{{op.SelectionSet, 1}}
		for len(stack) > 0 {
			l := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if l.depth > GraphQLMaxDepth {
				return fmt.Sprintf("Query exceeds maximum depth of %d", GraphQLMaxDepth)
			}
			fields, n := collectFields(l.set, doc.Fragments)
			for _, f := range fields {
				if l.depth == 1 {
					roots++
				}
				if len(f.SelectionSet) > 0 {
					stack = append(stack, level{f.SelectionSet, l.depth + 1})
				}
				if selections++; selections > GraphQLMaxSelections {
					return fmt.Sprintf("Query exceeds maximum total selections of %d", GraphQLMaxSelections)
				}
			}
			aliases = max(aliases, n)
		}
	}
	switch {
	case roots > GraphQLMaxRootFields:
		return fmt.Sprintf("GraphQL queries should have at most %d root fields, got %d root fields.", GraphQLMaxRootFields, roots)
	case aliases > GraphQLMaxAliases:
		return fmt.Sprintf("GraphQL queries should have at most %d aliases, got %d aliases.", GraphQLMaxAliases, aliases)
	}
	return ""
}

// collectFields returns the fields of a selection set, with those of the
// fragments in it (each named fragment once), and how many have an alias.
func collectFields(set ast.SelectionSet, frags ast.FragmentDefinitionList) ([]*ast.Field, int) {
	var fields []*ast.Field
	aliases := 0
	seen := map[string]bool{}
	queue := append([]ast.Selection(nil), set...)
	for len(queue) > 0 {
		sel := queue[0]
		queue = queue[1:]
		switch sel := sel.(type) {
		case *ast.Field:
			fields = append(fields, sel)
			// gqlparser sets Alias to the name when there is none.
			if sel.Alias != "" && sel.Alias != sel.Name {
				aliases++
			}
		case *ast.InlineFragment:
			queue = append(queue, sel.SelectionSet...)
		case *ast.FragmentSpread:
			if seen[sel.Name] {
				continue
			}
			seen[sel.Name] = true
			if f := frags.ForName(sel.Name); f != nil {
				queue = append(queue, f.SelectionSet...)
			}
		}
	}
	return fields, aliases
}

// gqlError is what a resolver's error says in the answer's errors: its
// message alone, as MLflow's are. Internal errors are logged with their
// cause.
func (s *Server) gqlError(err error) error {
	if HTTPStatus(lode.ErrorCode(err)) >= 500 {
		s.Logger.Error("graphql resolver failed", "err", err)
	}
	return errors.New(lode.ErrorMessage(err))
}

// longString is MLflow's LongString: a 64-bit integer written as decimal
// text, read from an integer or its text.
type longString int64

func (longString) ImplementsGraphQLType(name string) bool { return name == "LongString" }

func (l *longString) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case int32:
		*l = longString(v)
	case int64:
		*l = longString(v)
	case int:
		*l = longString(v)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return fmt.Errorf("LongString cannot represent %v", v)
		}
		*l = longString(v)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("LongString cannot represent %q", v)
		}
		*l = longString(n)
	default:
		return fmt.Errorf("LongString cannot represent %v", input)
	}
	return nil
}

func (l longString) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(l), 10)), nil
}

// Constructors of nullable values: every field of the schema is nullable,
// which graph-gophers reads as a pointer.
func gs(v string) *string     { return &v }
func gl(v int64) *longString  { l := longString(v); return &l }
func gb(v bool) *bool         { return &v }
func gList[T any](v []T) *[]T { return &v }
func gfloat(v float64) *float64 {
	// MLflow answers a NaN (or infinite) value with null.
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// The schema's objects, with their fields as graph-gophers resolves them
// (UseFieldResolvers: by name, case and underscores aside).
type (
	gqlTag struct{ Key, Value *string }

	gqlExperiment struct {
		ExperimentID, Name, ArtifactLocation, LifecycleStage *string
		LastUpdateTime, CreationTime                         *longString
		Tags                                                 *[]*gqlTag
		EffectiveTraceArchivalRetention, Workspace           *string
	}

	gqlRunInfo struct {
		RunID, RunUUID, RunName, ExperimentID, UserID, Status *string
		StartTime, EndTime                                    *longString
		ArtifactURI, LifecycleStage                           *string
	}

	gqlMetric struct {
		Key                                        *string
		Value                                      *float64
		Timestamp, Step                            *longString
		DatasetName, DatasetDigest, ModelID, RunID *string
	}

	gqlRunData struct {
		Metrics *[]*gqlMetric
		Params  *[]*gqlTag
		Tags    *[]*gqlTag
	}

	gqlDataset struct {
		Name, Digest, SourceType, Source, Schema, Profile *string
	}

	gqlDatasetInput struct {
		Tags    *[]*gqlTag
		Dataset *gqlDataset
	}

	gqlModelRef struct {
		ModelID *string
		Step    *longString
	}

	gqlRunInputs struct {
		DatasetInputs *[]*gqlDatasetInput
		ModelInputs   *[]*gqlModelRef
	}

	gqlRunOutputs struct {
		ModelOutputs *[]*gqlModelRef
	}

	gqlModelParam struct{ Name, Value *string }

	gqlJobState struct {
		JobID, RunID, JobState, RunState, CurrentTaskName *string
	}

	gqlModelVersion struct {
		Name, Version                           *string
		CreationTimestamp, LastUpdatedTimestamp *longString
		UserID, CurrentStage, Description       *string
		Source, RunID, Status, StatusMessage    *string
		Tags                                    *[]*gqlTag
		RunLink                                 *string
		Aliases                                 *[]*string
		ModelID                                 *string
		ModelParams                             *[]*gqlModelParam
		ModelMetrics                            *[]*gqlMetric
		DeploymentJobState                      *gqlJobState
	}

	gqlFileInfo struct {
		Path     *string
		IsDir    *bool
		FileSize *longString
	}

	gqlDatasetSummary struct {
		ExperimentID, Name, Digest, Context *string
	}

	gqlErrorDetail struct{ Field, Message *string }

	gqlAPIError struct {
		Code, Message, HelpURL, TraceID *string
		ErrorDetails                    *[]*gqlErrorDetail
	}

	gqlTest struct{ Output *string }

	// The responses. MLflow never sets apiError (errors go to the
	// answer's errors), nor does Lode.
	gqlGetExperimentResponse struct {
		Experiment *gqlExperiment
		APIError   *gqlAPIError
	}
	gqlGetRunResponse struct {
		Run      *gqlRun
		APIError *gqlAPIError
	}
	gqlSearchRunsResponse struct {
		Runs          *[]*gqlRun
		NextPageToken *string
		APIError      *gqlAPIError
	}
	gqlBulkIntervalResponse struct {
		Metrics  *[]*gqlMetric
		APIError *gqlAPIError
	}
	gqlListArtifactsResponse struct {
		RootURI       *string
		Files         *[]*gqlFileInfo
		NextPageToken *string
		APIError      *gqlAPIError
	}
	gqlSearchModelVersionsResponse struct {
		ModelVersions *[]*gqlModelVersion
		NextPageToken *string
		APIError      *gqlAPIError
	}
	gqlSearchDatasetsResponse struct {
		DatasetSummaries *[]*gqlDatasetSummary
		APIError         *gqlAPIError
	}
)

func gqlTags(ts []tracking.Tag) *[]*gqlTag {
	out := make([]*gqlTag, len(ts))
	for i, t := range ts {
		out[i] = &gqlTag{gs(t.Key), gs(t.Value)}
	}
	return &out
}

func gqlExperimentOf(e *tracking.Experiment) *gqlExperiment {
	return &gqlExperiment{ExperimentID: gs(e.ID), Name: gs(e.Name), ArtifactLocation: gs(e.ArtifactLocation),
		LifecycleStage: gs(e.LifecycleStage), LastUpdateTime: gl(e.LastUpdateTime), CreationTime: gl(e.CreationTime),
		Tags: gqlTags(e.Tags), EffectiveTraceArchivalRetention: gs("")}
}

func gqlMetricOf(m tracking.Metric) *gqlMetric {
	return &gqlMetric{Key: gs(m.Key), Value: gfloat(m.Value), Timestamp: gl(m.Timestamp), Step: gl(m.Step),
		DatasetName: gs(m.DatasetName), DatasetDigest: gs(m.DatasetDigest), ModelID: gs(m.ModelID), RunID: gs(m.RunID)}
}

func gqlVersionOf(v *registry.Version) *gqlModelVersion {
	aliases := make([]*string, len(v.Aliases))
	for i, a := range v.Aliases {
		aliases[i] = gs(a)
	}
	return &gqlModelVersion{Name: gs(v.Name), Version: gs(v.Version), CreationTimestamp: gl(v.CreationTime),
		LastUpdatedTimestamp: gl(v.LastUpdateTime), UserID: gs(v.UserID), CurrentStage: gs(v.CurrentStage),
		Description: gs(v.Description), Source: gs(v.Source), RunID: gs(v.RunID), Status: gs(v.Status),
		StatusMessage: gs(v.StatusMessage), Tags: gqlTags(v.Tags), RunLink: gs(v.RunLink), Aliases: &aliases,
		ModelID: gs(v.ModelID), ModelParams: gList([]*gqlModelParam{}), ModelMetrics: gList([]*gqlMetric{})}
}

// gqlRun is MLflow's MlflowRunExtension: a run, with its experiment and
// the model versions registered from it resolved when asked for.
type gqlRun struct {
	s   *Server
	run *tracking.Run
}

func (r *gqlRun) Info() *gqlRunInfo {
	i := r.run.Info
	end := int64(0)
	if i.EndTime != nil {
		end = *i.EndTime
	}
	return &gqlRunInfo{RunID: gs(i.RunID), RunUUID: gs(i.RunID), RunName: gs(i.RunName), ExperimentID: gs(i.ExperimentID),
		UserID: gs(i.UserID), Status: gs(i.Status), StartTime: gl(i.StartTime), EndTime: gl(end),
		ArtifactURI: gs(i.ArtifactURI), LifecycleStage: gs(i.LifecycleStage)}
}

func (r *gqlRun) Data() *gqlRunData {
	metrics := make([]*gqlMetric, len(r.run.Metrics))
	for i, m := range r.run.Metrics {
		metrics[i] = gqlMetricOf(tracking.Metric{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp, Step: m.Step})
	}
	params := make([]*gqlTag, len(r.run.Params))
	for i, p := range r.run.Params {
		params[i] = &gqlTag{gs(p.Key), gs(p.Value)}
	}
	return &gqlRunData{Metrics: &metrics, Params: &params, Tags: gqlTags(r.run.Tags)}
}

func (r *gqlRun) Inputs() *gqlRunInputs {
	ds := make([]*gqlDatasetInput, len(r.run.Inputs))
	for i, in := range r.run.Inputs {
		d := in.Dataset
		ds[i] = &gqlDatasetInput{Tags: gqlTags(in.Tags), Dataset: &gqlDataset{gs(d.Name), gs(d.Digest), gs(d.SourceType), gs(d.Source), gs(d.Schema), gs(d.Profile)}}
	}
	ms := make([]*gqlModelRef, len(r.run.ModelInputs))
	for i, m := range r.run.ModelInputs {
		ms[i] = &gqlModelRef{ModelID: gs(m.ModelID)}
	}
	return &gqlRunInputs{DatasetInputs: &ds, ModelInputs: &ms}
}

func (r *gqlRun) Outputs() *gqlRunOutputs {
	ms := make([]*gqlModelRef, len(r.run.ModelOutputs))
	for i, m := range r.run.ModelOutputs {
		ms[i] = &gqlModelRef{ModelID: gs(m.ModelID), Step: gl(m.Step)}
	}
	return &gqlRunOutputs{ModelOutputs: &ms}
}

// Experiment is checked on its own, as experiments/get is, though the run
// being readable makes it readable today.
func (r *gqlRun) Experiment(ctx context.Context) (*gqlExperiment, error) {
	id := r.run.Info.ExperimentID
	if err := r.s.Guard.CheckTarget(ctx, TargetExperiment, id, auth.NeedRead, false); err != nil {
		return nil, r.s.gqlError(err)
	}
	e, err := r.s.Tracking.GetExperiment(ctx, id)
	if err != nil {
		return nil, r.s.gqlError(err)
	}
	return gqlExperimentOf(e), nil
}

// ModelVersions are the versions registered from the run, of the
// registered models the caller may read (the registry's search is
// scoped so).
func (r *gqlRun) ModelVersions(ctx context.Context) (*[]*gqlModelVersion, error) {
	out := []*gqlModelVersion{}
	if r.s.Registry == nil {
		return &out, nil
	}
	vs, _, err := r.s.Registry.SearchVersions(ctx, fmt.Sprintf("run_id = '%s'", r.run.Info.RunID), nil, 0, "")
	if err != nil {
		return nil, r.s.gqlError(err)
	}
	for _, v := range vs {
		out = append(out, gqlVersionOf(v))
	}
	return &out, nil
}

// gqlRoot resolves the Query and Mutation types. Each field asks the
// guard what the REST endpoint it stands for asks (the same rule on the
// same resource), then calls the same service.
type gqlRoot struct{ s *Server }

type gqlTestArgs struct{ InputString *string }

func (q *gqlRoot) Test(args gqlTestArgs) *gqlTest { return &gqlTest{args.InputString} }

func (q *gqlRoot) TestMutation(args gqlTestArgs) *gqlTest { return &gqlTest{args.InputString} }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefs(p *[]*string) []string {
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(*p))
	for _, v := range *p {
		if v != nil {
			out = append(out, *v)
		}
	}
	return out
}

func (q *gqlRoot) MlflowGetExperiment(ctx context.Context, args struct {
	Input *struct{ ExperimentID *string }
}) (*gqlGetExperimentResponse, error) {
	s := q.s
	id := ""
	if args.Input != nil {
		id = deref(args.Input.ExperimentID)
	}
	if err := required("experiment_id", id); err != nil {
		return nil, s.gqlError(err)
	}
	if err := s.Guard.CheckTarget(ctx, TargetExperiment, id, auth.NeedRead, false); err != nil {
		return nil, s.gqlError(err)
	}
	e, err := s.Tracking.GetExperiment(ctx, id)
	if err != nil {
		return nil, s.gqlError(err)
	}
	return &gqlGetExperimentResponse{Experiment: gqlExperimentOf(e)}, nil
}

type gqlRunArgs struct {
	Input *struct{ RunID, RunUUID *string }
}

// readRun is runs/get: READ on the run, then the run.
func (s *Server) readRun(ctx context.Context, runID, runUUID *string) (*tracking.Run, error) {
	id, err := runRef{RunID: deref(runID), RunUUID: deref(runUUID)}.id()
	if err != nil {
		return nil, err
	}
	if err := s.Guard.CheckTarget(ctx, TargetRun, id, auth.NeedRead, false); err != nil {
		return nil, err
	}
	return s.Tracking.GetRun(ctx, id)
}

func (q *gqlRoot) MlflowGetRun(ctx context.Context, args gqlRunArgs) (*gqlGetRunResponse, error) {
	var in struct{ RunID, RunUUID *string }
	if args.Input != nil {
		in = *args.Input
	}
	run, err := q.s.readRun(ctx, in.RunID, in.RunUUID)
	if err != nil {
		return nil, q.s.gqlError(err)
	}
	return &gqlGetRunResponse{Run: &gqlRun{s: q.s, run: run}}, nil
}

func (q *gqlRoot) MlflowListArtifacts(ctx context.Context, args struct {
	Input *struct{ RunID, RunUUID, Path, PageToken *string }
}) (*gqlListArtifactsResponse, error) {
	s := q.s
	var in struct{ RunID, RunUUID, Path, PageToken *string }
	if args.Input != nil {
		in = *args.Input
	}
	run, err := s.readRun(ctx, in.RunID, in.RunUUID)
	if err != nil {
		return nil, s.gqlError(err)
	}
	files, err := s.listUnderFiles(ctx, run.Info.ArtifactURI, deref(in.Path))
	if err != nil {
		return nil, s.gqlError(err)
	}
	out := make([]*gqlFileInfo, len(files))
	for i, f := range files {
		size := int64(0)
		if f.FileSize != nil {
			size = *f.FileSize
		}
		out[i] = &gqlFileInfo{Path: gs(f.Path), IsDir: gb(f.IsDir), FileSize: gl(size)}
	}
	return &gqlListArtifactsResponse{RootURI: gs(run.Info.ArtifactURI), Files: &out, NextPageToken: gs("")}, nil
}

func (q *gqlRoot) MlflowGetMetricHistoryBulkInterval(ctx context.Context, args struct {
	Input *struct {
		RunIDs                         *[]*string
		MetricKey                      *string
		StartStep, EndStep, MaxResults *int32
	}
}) (*gqlBulkIntervalResponse, error) {
	s := q.s
	if args.Input == nil {
		args.Input = &struct {
			RunIDs                         *[]*string
			MetricKey                      *string
			StartStep, EndStep, MaxResults *int32
		}{}
	}
	in := args.Input
	ids := derefs(in.RunIDs)
	// As the REST route: READ on every run named.
	for _, id := range ids {
		if err := s.Guard.CheckTarget(ctx, TargetRun, id, auth.NeedRead, false); err != nil {
			return nil, s.gqlError(err)
		}
	}
	step := func(p *int32) *int64 {
		if p == nil {
			return nil
		}
		v := int64(*p)
		return &v
	}
	maxResults := 0
	if in.MaxResults != nil {
		maxResults = int(*in.MaxResults)
	}
	ms, err := s.Tracking.GetMetricHistoryBulkInterval(ctx, ids, deref(in.MetricKey), step(in.StartStep), step(in.EndStep), maxResults)
	if err != nil {
		return nil, s.gqlError(err)
	}
	out := make([]*gqlMetric, len(ms))
	for i, m := range ms {
		out[i] = &gqlMetric{Key: gs(m.Key), Value: gfloat(m.Value), Timestamp: gl(m.Timestamp), Step: gl(m.Step), RunID: gs(m.RunID)}
	}
	return &gqlBulkIntervalResponse{Metrics: &out}, nil
}

type gqlSearchRunsArgs struct {
	Input *struct {
		ExperimentIDs *[]*string
		Filter        *string
		RunViewType   *string
		MaxResults    *int32
		OrderBy       *[]*string
		PageToken     *string
	}
}

// MlflowSearchRuns is runs/search: any signed-in caller, answered with
// the runs of the experiments they may read.
func (q *gqlRoot) MlflowSearchRuns(ctx context.Context, args gqlSearchRunsArgs) (*gqlSearchRunsResponse, error) {
	s := q.s
	if args.Input == nil {
		return nil, s.gqlError(lode.Errorf(lode.EInvalid, "Missing value for required parameter 'input'."))
	}
	in := args.Input
	view, err := viewType(deref(in.RunViewType))
	if err != nil {
		return nil, s.gqlError(lode.Errorf(lode.EInvalid, "%v", err))
	}
	maxResults := 0
	if in.MaxResults != nil {
		if err := positive("max_results", jint{V: int64(*in.MaxResults), Set: true}); err != nil {
			return nil, s.gqlError(err)
		}
		maxResults = int(*in.MaxResults)
	}
	runs, next, err := s.Tracking.SearchRuns(ctx, derefs(in.ExperimentIDs), deref(in.Filter), derefs(in.OrderBy), view, maxResults, deref(in.PageToken))
	if err != nil {
		return nil, s.gqlError(err)
	}
	out := make([]*gqlRun, len(runs))
	for i, r := range runs {
		out[i] = &gqlRun{s: s, run: r}
	}
	return &gqlSearchRunsResponse{Runs: &out, NextPageToken: gs(next)}, nil
}

// MlflowSearchDatasets is experiments/search-datasets: READ on every
// experiment named.
func (q *gqlRoot) MlflowSearchDatasets(ctx context.Context, args struct {
	Input *struct{ ExperimentIDs *[]*string }
}) (*gqlSearchDatasetsResponse, error) {
	s := q.s
	var ids []string
	if args.Input != nil {
		ids = derefs(args.Input.ExperimentIDs)
	}
	if len(ids) <= tracking.MaxExperimentsSearchDatasets {
		for _, id := range ids {
			if err := s.Guard.CheckTarget(ctx, TargetExperiment, id, auth.NeedRead, false); err != nil {
				return nil, s.gqlError(err)
			}
		}
	}
	sums, err := s.Tracking.SearchDatasets(ctx, ids)
	if err != nil {
		return nil, s.gqlError(err)
	}
	out := make([]*gqlDatasetSummary, len(sums))
	for i, d := range sums {
		out[i] = &gqlDatasetSummary{gs(d.ExperimentID), gs(d.Name), gs(d.Digest), gs(d.Context)}
	}
	return &gqlSearchDatasetsResponse{DatasetSummaries: &out}, nil
}

// MlflowSearchModelVersions is model-versions/search: any signed-in
// caller, answered with the versions of the models they may read.
func (q *gqlRoot) MlflowSearchModelVersions(ctx context.Context, args struct {
	Input *struct {
		Filter     *string
		MaxResults *longString
		OrderBy    *[]*string
		PageToken  *string
	}
}) (*gqlSearchModelVersionsResponse, error) {
	s := q.s
	if s.Registry == nil {
		return nil, s.gqlError(lode.Errorf(lode.EEndpointNotFound, "The model registry is not enabled on this server."))
	}
	var in struct {
		Filter     *string
		MaxResults *longString
		OrderBy    *[]*string
		PageToken  *string
	}
	if args.Input != nil {
		in = *args.Input
	}
	maxResults := 0
	if in.MaxResults != nil {
		if err := positive("max_results", jint{V: int64(*in.MaxResults), Set: true}); err != nil {
			return nil, s.gqlError(err)
		}
		maxResults = int(*in.MaxResults)
	}
	vs, next, err := s.Registry.SearchVersions(ctx, deref(in.Filter), derefs(in.OrderBy), maxResults, deref(in.PageToken))
	if err != nil {
		return nil, s.gqlError(err)
	}
	out := make([]*gqlModelVersion, len(vs))
	for i, v := range vs {
		out[i] = gqlVersionOf(v)
	}
	return &gqlSearchModelVersionsResponse{ModelVersions: &out, NextPageToken: gs(next)}, nil
}
