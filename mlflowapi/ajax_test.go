package mlflowapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/localfs"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tracking"
)

// newRunVia creates an experiment and a run in it through the API and
// returns their ids.
func (e *apiEnv) newRunVia(name string) (exp, run string) {
	e.t.Helper()
	out := e.ok(e.do("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": name}), "create experiment")
	exp = out["experiment_id"].(string)
	out = e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp}), "create run")
	return exp, out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
}

func (e *apiEnv) logMetrics(run string, points ...[3]float64) {
	e.t.Helper()
	ms := make([]map[string]any, len(points))
	for i, p := range points {
		ms[i] = map[string]any{"key": "loss", "value": p[0], "timestamp": int64(p[1]), "step": int64(p[2])}
	}
	e.ok(e.do("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": run, "metrics": ms}), "log-batch")
}

func TestGetMetricHistoryBulk(t *testing.T) {
	e := newAPIEnv(t)
	_, r1 := e.newRunVia("bulk")
	_, r2 := e.newRunVia("bulk-2")
	e.logMetrics(r1, [3]float64{3, 30, 2}, [3]float64{1, 10, 0}, [3]float64{2, 20, 1})
	e.logMetrics(r2, [3]float64{5, 5, 0})
	first, second := r1, r2
	if second < first {
		first, second = second, first
	}
	for _, prefix := range []string{"/ajax-api/2.0/mlflow/", "/api/2.0/mlflow/"} {
		out := e.ok(e.get(prefix+"metrics/get-history-bulk", url.Values{"run_id": {r2, r1, r2}, "metric_key": {"loss"}}), "bulk")
		ms := out["metrics"].([]any)
		if len(ms) != 4 {
			t.Fatalf("%s: %d values, want 4: %v", prefix, len(ms), ms)
		}
		// Ordered by run id, then timestamp; each value with its run only.
		for i, m := range ms {
			m := m.(map[string]any)
			want := first
			if i >= map[bool]int{true: 3, false: 1}[first == r1] {
				want = second
			}
			if m["run_id"] != want {
				t.Errorf("value %d is %v's, want %s's (runs ordered by id)", i, m["run_id"], want)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "key,run_id,step,timestamp,value" {
				t.Errorf("value %d has fields %v", i, keys)
			}
		}
	}
	var steps []float64
	for _, m := range e.ok(e.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", url.Values{"run_id": {r1}, "metric_key": {"loss"}}), "r1")["metrics"].([]any) {
		steps = append(steps, m.(map[string]any)["step"].(float64))
	}
	if fmt.Sprint(steps) != "[0 1 2]" {
		t.Errorf("r1's steps %v, want [0 1 2] (by timestamp)", steps)
	}
	if ms := e.ok(e.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", url.Values{"run_id": {r1, r2}, "metric_key": {"loss"}, "max_results": {"2"}}), "max 2")["metrics"].([]any); len(ms) != 2 {
		t.Errorf("max_results=2 gave %d values", len(ms))
	}
	for _, q := range []url.Values{
		{"run_id": {"0123456789abcdef0123456789abcdef"}, "metric_key": {"loss"}},
		{"run_id": {r1}, "metric_key": {"nope"}},
		{"run_id": {r1}, "metric_key": {"loss"}, "max_results": {"0"}},
	} {
		r := e.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", q)
		if r.Status != http.StatusOK || string(r.Body) != `{"metrics":[]}` {
			t.Errorf("%v: %s, want 200 {\"metrics\":[]}", q, r)
		}
	}
	many := url.Values{"metric_key": {"loss"}}
	for i := 0; i < 101; i++ {
		many.Add("run_id", fmt.Sprintf("%032x", i))
	}
	for _, c := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"metric_key": {"loss"}}, "GetMetricHistoryBulk request must specify at least one run_id."},
		{url.Values{"run_id": {r1}}, "GetMetricHistoryBulk request must specify a metric_key."},
		{many, "GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received 101 run_ids."},
		{url.Values{"run_id": {r1}, "metric_key": {"loss"}, "max_results": {"-1"}}, "max_results"},
		{url.Values{"run_id": {r1}, "metric_key": {"loss"}, "max_results": {"x"}}, ""},
		{url.Values{"run_id": {"../../x"}, "metric_key": {"loss"}}, "run_id"},
	} {
		r := e.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", c.q)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", fmt.Sprint(c.q))
		if msg, _ := r.JSON["message"].(string); !strings.Contains(msg, c.want) {
			t.Errorf("%v: message %q, want %q", c.q, msg, c.want)
		}
	}
	if r := e.do("POST", "/ajax-api/2.0/mlflow/metrics/get-history-bulk", map[string]any{}); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST get-history-bulk: %s, want 405", r)
	}
}

func TestSearchDatasets(t *testing.T) {
	e := newAPIEnv(t)
	exp, run := e.newRunVia("datasets")
	other, _ := e.newRunVia("no-datasets")
	ds := func(name, digest string) map[string]any {
		return map[string]any{"name": name, "digest": digest, "source_type": "local", "source": "{}"}
	}
	e.ok(e.do("POST", "/api/2.0/mlflow/runs/log-inputs", map[string]any{"run_id": run, "datasets": []map[string]any{
		{"dataset": ds("train", "d1"), "tags": []map[string]string{{"key": "mlflow.data.context", "value": "training"}}},
		{"dataset": ds("eval", "d2")},
	}}), "log-inputs")
	out := e.ok(e.do("POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", map[string]any{"experiment_ids": []string{exp, other}}), "search-datasets")
	got, _ := json.Marshal(out)
	want := fmt.Sprintf(`{"dataset_summaries":[{"digest":"d2","experiment_id":"%s","name":"eval"},{"context":"training","digest":"d1","experiment_id":"%s","name":"train"}]}`, exp, exp)
	if string(got) != want {
		t.Errorf("search-datasets: %s\nwant %s", got, want)
	}
	if r := e.do("POST", "/api/2.0/mlflow/experiments/search-datasets", map[string]any{"experiment_ids": []string{other}}); r.Status != http.StatusOK || string(r.Body) != "{}" {
		t.Errorf("an experiment without datasets: %s, want {}", r)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	for _, c := range []struct {
		body any
		want string
	}{
		{map[string]any{}, "SearchDatasets request must specify at least one experiment_id."},
		{map[string]any{"experiment_ids": many}, "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids."},
		{map[string]any{"experiment_ids": []string{"x'; DROP TABLE datasets; --"}}, "Invalid experiment ID"},
		{map[string]any{"experiment_ids": []any{1.5}}, ""},
	} {
		r := e.do("POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", c.body)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", fmt.Sprint(c.body))
		if msg, _ := r.JSON["message"].(string); !strings.Contains(msg, c.want) {
			t.Errorf("%v: message %q, want %q", c.body, msg, c.want)
		}
	}
	// A POST must say it is JSON, as everywhere in the API.
	r := e.do("POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", []byte(`{"experiment_ids": ["1"]}`))
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "search-datasets as octet-stream")
}

func TestUploadArtifact(t *testing.T) {
	e := newAPIEnv(t)
	exp, run := e.newRunVia("upload")
	upload := func(prefix string, q url.Values, body []byte) resp {
		t.Helper()
		return e.do("POST", prefix+"upload-artifact?"+q.Encode(), body)
	}
	for i, prefix := range []string{"/ajax-api/2.0/mlflow/", "/api/2.0/mlflow/"} {
		name := fmt.Sprintf("ui/table-%d.json", i)
		r := upload(prefix, url.Values{"run_uuid": {run}, "path": {name}}, []byte(`{"a": 1}`))
		if r.Status != http.StatusOK || len(r.Body) != 0 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("upload-artifact: %s %q; want 200, an empty JSON body", r, r.Header.Get("Content-Type"))
		}
		b, err := os.ReadFile(filepath.Join(e.artRoot, exp, run, "artifacts", filepath.FromSlash(name)))
		if err != nil || string(b) != `{"a": 1}` {
			t.Fatalf("the uploaded file: %q, %v", b, err)
		}
	}
	list := e.ok(e.get("/api/2.0/mlflow/artifacts/list", url.Values{"run_id": {run}, "path": {"ui"}}), "list")
	if files, _ := list["files"].([]any); len(files) != 2 {
		t.Errorf("artifacts/list ui: %v, want the two files", list)
	}

	before := snapshot(t, e.base)
	big := bytes.Repeat([]byte("x"), 10<<20+1)
	for _, c := range []struct {
		q      url.Values
		body   []byte
		status int
		code   string
		want   string
	}{
		{url.Values{"path": {"a.txt"}}, []byte("x"), 400, "INVALID_PARAMETER_VALUE", "Request must specify run_uuid."},
		{url.Values{"run_id": {run}, "path": {"a.txt"}}, []byte("x"), 400, "INVALID_PARAMETER_VALUE", "Request must specify run_uuid."},
		{url.Values{"run_uuid": {run}}, []byte("x"), 400, "INVALID_PARAMETER_VALUE", "Request must specify path."},
		{url.Values{"run_uuid": {run}, "path": {"a.txt"}}, nil, 400, "INVALID_PARAMETER_VALUE", "Request must specify data."},
		{url.Values{"run_uuid": {run}, "path": {"a.txt"}}, big, 400, "INVALID_PARAMETER_VALUE", "Artifact size is too large. Max size is 10MB."},
		{url.Values{"run_uuid": {run, run}, "path": {"a.txt"}}, []byte("x"), 400, "INVALID_PARAMETER_VALUE", "Duplicate parameter"},
		{url.Values{"run_uuid": {"0123456789abcdef0123456789abcdef"}, "path": {"a.txt"}}, []byte("x"), 404, "RESOURCE_DOES_NOT_EXIST", ""},
	} {
		r := upload("/ajax-api/2.0/mlflow/", c.q, c.body)
		wantError(t, r, c.status, c.code, fmt.Sprint(c.q))
		if msg, _ := r.JSON["message"].(string); !strings.Contains(msg, c.want) {
			t.Errorf("%v: message %q, want %q", c.q, msg, c.want)
		}
	}
	// No path leaves the run's artifact root.
	for _, p := range []string{"../../../outside/x.txt", "/etc/x", "a/../../x", "..", "a/%2e%2e/%2e%2e/x", `a\..\x`, "C:/x", "file:///tmp/x", "/", "."} {
		r := upload("/ajax-api/2.0/mlflow/", url.Values{"run_uuid": {run}, "path": {p}}, []byte("pwned"))
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "path "+p)
	}
	if d := diffSnapshots(before, snapshot(t, e.base)); d != "" {
		t.Errorf("refused uploads changed files:\n%s", d)
	}
	if r := e.get("/ajax-api/2.0/mlflow/upload-artifact", url.Values{"run_uuid": {run}, "path": {"a"}}); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET upload-artifact: %s, want 405", r)
	}
}

// gqlPost sends a GraphQL request and decodes MLflow's answer.
func (e *apiEnv) gqlPost(query string, vars map[string]any) (status int, data map[string]any, errs []string) {
	e.t.Helper()
	r := e.do("POST", "/graphql", map[string]any{"query": query, "variables": vars})
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []string       `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		e.t.Fatalf("graphql answer %s: %v", r, err)
	}
	if !bytes.Contains(r.Body, []byte(`"errors":`)) || !bytes.Contains(r.Body, []byte(`"data":`)) {
		e.t.Errorf("graphql answer %s: want both data and errors", r)
	}
	return r.Status, out.Data, out.Errors
}

// The query MLflow's UI sends for a run page (mlflow/server/js, MLflow 3.17).
const uiGetRun = `
  query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetRun(input: $data) {
      apiError { helpUrl code message }
      run {
        info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId }
        experiment { experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime }
        modelVersions { status version name source }
        data { metrics { key value step timestamp } params { key value } tags { key value } }
        inputs {
          datasetInputs { dataset { digest name profile schema source sourceType } tags { key value } }
          modelInputs { modelId }
        }
        outputs { modelOutputs { modelId step } }
      }
    }
  }`

func TestGraphQL(t *testing.T) {
	e := newAPIEnv(t)
	exp, run := e.newRunVia("graphql")
	e.logMetrics(run, [3]float64{0.5, 10, 0}, [3]float64{0.25, 20, 1})
	e.ok(e.do("POST", "/api/2.0/mlflow/runs/log-parameter", map[string]any{"run_id": run, "key": "lr", "value": "0.1"}), "log-parameter")
	e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+exp+"/"+run+"/artifacts/dir/f.txt", []byte("hello")), "upload")

	status, data, errs := e.gqlPost(uiGetRun, map[string]any{"data": map[string]any{"runId": run}})
	if status != 200 || errs != nil {
		t.Fatalf("GetRun: %d %v", status, errs)
	}
	got := data["mlflowGetRun"].(map[string]any)["run"].(map[string]any)
	info := got["info"].(map[string]any)
	if info["runUuid"] != run || info["experimentId"] != exp || info["status"] != "RUNNING" || info["endTime"] != "0" {
		t.Errorf("run info %v", info)
	}
	if _, ok := info["startTime"].(string); !ok {
		t.Errorf("startTime %v is no LongString", info["startTime"])
	}
	if m := got["data"].(map[string]any)["metrics"].([]any)[0].(map[string]any); m["value"] != 0.25 || m["step"] != "1" || m["timestamp"] != "20" {
		t.Errorf("latest metric %v", m)
	}
	if e := got["experiment"].(map[string]any); e["experimentId"] != exp || e["name"] != "graphql" {
		t.Errorf("run's experiment %v", e)
	}
	if mv := got["modelVersions"].([]any); len(mv) != 0 {
		t.Errorf("modelVersions %v, want [] (no registry)", mv)
	}

	_, data, errs = e.gqlPost(`query ($i: MlflowGetExperimentInput!) { mlflowGetExperiment(input: $i) { experiment { experimentId name creationTime tags { key } } apiError { code } } }`,
		map[string]any{"i": map[string]any{"experimentId": exp}})
	if errs != nil || data["mlflowGetExperiment"].(map[string]any)["experiment"].(map[string]any)["name"] != "graphql" {
		t.Errorf("mlflowGetExperiment: %v %v", data, errs)
	}
	_, data, errs = e.gqlPost(`{ mlflowListArtifacts(input: {runId: "`+run+`", path: "dir"}) { rootUri files { path isDir fileSize } } }`, nil)
	if files := data["mlflowListArtifacts"].(map[string]any)["files"].([]any); errs != nil || len(files) != 1 || fmt.Sprint(files[0]) != "map[fileSize:5 isDir:false path:dir/f.txt]" {
		t.Errorf("mlflowListArtifacts: %v %v", data, errs)
	}
	_, data, errs = e.gqlPost(`query ($d: MlflowGetMetricHistoryBulkIntervalInput!) { mlflowGetMetricHistoryBulkInterval(input: $d) { __typename metrics { timestamp step runId key value } } }`,
		map[string]any{"d": map[string]any{"runIds": []string{run}, "metricKey": "loss", "maxResults": 10}})
	if ms := data["mlflowGetMetricHistoryBulkInterval"].(map[string]any)["metrics"].([]any); errs != nil || len(ms) != 2 {
		t.Errorf("mlflowGetMetricHistoryBulkInterval: %v %v", data, errs)
	}
	for _, op := range []string{"query", "mutation"} {
		_, data, errs = e.gqlPost(op+` ($d: MlflowSearchRunsInput!) { mlflowSearchRuns(input: $d) { runs { info { runUuid } } nextPageToken } }`,
			map[string]any{"d": map[string]any{"experimentIds": []string{exp}, "filter": "metrics.loss < 1", "runViewType": "ACTIVE_ONLY", "maxResults": 10}})
		if runs := data["mlflowSearchRuns"].(map[string]any)["runs"].([]any); errs != nil || len(runs) != 1 {
			t.Errorf("%s mlflowSearchRuns: %v %v", op, data, errs)
		}
	}

	// Errors: the field is null, the message MLflow's REST endpoint gives.
	for _, c := range []struct{ query, field, want string }{
		{`{ mlflowGetRun(input: {runId: "0123456789abcdef0123456789abcdef"}) { run { info { runId } } } }`, "mlflowGetRun", "Run with id=0123456789abcdef0123456789abcdef not found"},
		{`{ mlflowGetRun(input: {}) { run { info { runId } } } }`, "mlflowGetRun", "Missing value for required parameter 'run_id'."},
		{`{ mlflowGetExperiment(input: {experimentId: "99999"}) { experiment { name } } }`, "mlflowGetExperiment", "99999"},
		{`{ mlflowSearchRuns(input: {experimentIds: ["` + exp + `"], filter: "metrics.loss <"}) { runs { info { runId } } } }`, "mlflowSearchRuns", ""},
		{`{ mlflowSearchRuns(input: {experimentIds: ["` + exp + `"], maxResults: -1}) { runs { info { runId } } } }`, "mlflowSearchRuns", "max_results"},
		{`{ mlflowListArtifacts(input: {runId: "` + run + `", path: "../../x"}) { files { path } } }`, "mlflowListArtifacts", "Invalid path"},
		{`{ mlflowGetMetricHistoryBulkInterval(input: {metricKey: "loss"}) { metrics { key } } }`, "mlflowGetMetricHistoryBulkInterval", "must specify at least one run_id"},
	} {
		status, data, errs := e.gqlPost(c.query, nil)
		if status != 200 || len(errs) != 1 || !strings.Contains(errs[0], c.want) || data == nil || data[c.field] != nil {
			t.Errorf("%s: %d data %v errors %q; want 200, %s null and an error saying %q", c.query, status, data, errs, c.field, c.want)
		}
	}

	// MLflow's limits, before anything runs.
	// n root fields (aliased: the same field with other arguments).
	fields := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "test%d: test(inputString: \"%d\") { output } ", i, i)
		}
		return b.String()
	}
	var sels strings.Builder
	sels.WriteString("{ test(inputString: \"x\") { ")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sels, "o%d: output ", i)
	}
	sels.WriteString("} }")
	frag := "fragment F on Query { test(inputString: \"f\") { output } } { ...F " + fields(10) + " }"
	deepQuery := "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }"
	for _, c := range []struct{ query, want string }{
		{"{ " + fields(11) + " }", "GraphQL queries should have at most 10 root fields, got 11 root fields."},
		{"{ " + fields(5) + " } query Q { " + fields(6) + " }", "at most 10 root fields, got 11"},
		{frag, "at most 10 root fields, got 11"},
		{`{ test(inputString: "x") { ` + aliasesOf("output", 11) + ` } }`, "GraphQL queries should have at most 10 aliases, got 11 aliases."},
		{deepQuery, "Query exceeds maximum depth of 10"},
		{sels.String(), "Query exceeds maximum total selections of 1000"},
		{"{ mlflowGetRun(", "Expected"},
		{"{ bogus }", "bogus"},
	} {
		status, data, errs := e.gqlPost(c.query, nil)
		if status != 200 || len(errs) != 1 || !strings.Contains(errs[0], c.want) || data != nil {
			t.Errorf("%.80s: %d %v %q; want 200, data null and %q", c.query, status, data, errs, c.want)
		}
	}
	for _, q := range []string{"{ " + fields(10) + " }", `{ test(inputString: "x") { ` + aliasesOf("output", 10) + ` } }`} {
		if _, _, errs := e.gqlPost(q, nil); errs != nil {
			t.Errorf("%.80s: %q; want it answered (at the limit)", q, errs)
		}
	}

	// The request itself: JSON with a query, or a GET.
	r := e.do("POST", "/graphql", map[string]any{"variables": map[string]any{}})
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "no query")
	r = e.do("POST", "/graphql", []byte(`{"query": "{ test(inputString: \"x\") { output } }"}`))
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "octet-stream body")
	r = e.do("POST", "/graphql", `{"query": `)
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "broken JSON")
	r = e.get("/graphql", url.Values{"query": {`query Q($s: String) { test(inputString: $s) { output } }`}, "variables": {`{"s": "hi"}`}, "operationName": {"Q"}})
	if r.Status != 200 || string(r.Body) != `{"data":{"test":{"output":"hi"}},"errors":null}` {
		t.Errorf("GET /graphql: %s", r)
	}
	r = e.get("/graphql", url.Values{"query": {`{ test { output } }`}, "variables": {`[1]`}})
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "GET with variables not an object")
	res, err := http.Post(e.srv.URL+"/graphql", "application/json", strings.NewReader(`{"query": "mutation { testMutation(inputString: \"m\") { output } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != `{"data":{"testMutation":{"output":"m"}},"errors":null}` {
		t.Errorf("testMutation: %s", body)
	}
}

func aliasesOf(field string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "x%d: %s ", i, field)
	}
	return b.String()
}

// With authentication on, the ajax endpoints and every GraphQL field ask
// what the REST endpoint they stand for asks, of the resource they name:
// a caller who may not read a run gets, over GraphQL, the refusal the
// REST API gives them, as the field's error, and searches hold only what
// they may read.
func TestAjaxAndGraphQLPermissions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "lode.db"), sqlite.Options{DefaultArtifactRoot: "mlflow-artifacts:"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := localfs.New(filepath.Join(dir, "art"))
	if err != nil {
		t.Fatal(err)
	}
	as := &auth.Service{Store: db, Default: auth.NoPermissions, CacheTTL: -1}
	alice, err := as.CreateUser(ctx, "alice", "alice's password", false)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := as.CreateUser(ctx, "mallory", "mallory's password", false)
	if err != nil {
		t.Fatal(err)
	}
	asAlice := auth.NewContext(ctx, &auth.Identity{User: alice, Basic: true})
	asMallory := auth.NewContext(ctx, &auth.Identity{User: mallory, Basic: true})
	svc := &tracking.Service{Store: db}
	guard := &mlflowapi.Guard{Auth: as, Find: benchFinder{svc}}
	svc.Readable = guard.Readable
	newRun := func(name string) (string, string) {
		exp, err := svc.CreateExperiment(ctx, name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := as.GrantCreator(ctx, auth.FromContext(asAlice), auth.Experiment, exp); err != nil {
			t.Fatal(err)
		}
		run, err := svc.CreateRun(ctx, tracking.CreateRunRequest{ExperimentID: exp})
		if err != nil {
			t.Fatal(err)
		}
		id := run.Info.RunID
		if err := svc.LogBatch(ctx, id, []tracking.Metric{{Key: "m", Value: 1, Timestamp: 1}}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := svc.LogInputs(ctx, id, []tracking.DatasetInput{{Dataset: tracking.Dataset{Name: "d", Digest: "1", SourceType: "local", Source: "{}"}}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, exp+"/"+id+"/artifacts/f.txt", strings.NewReader("secret")); err != nil {
			t.Fatal(err)
		}
		return exp, id
	}
	secretExp, secret := newRun("alice's secret")
	sharedExp, shared := newRun("alice's shared")
	if err := as.Grant(ctx, "mallory", auth.Experiment, sharedExp, auth.Read, false); err != nil {
		t.Fatal(err)
	}
	h := (&mlflowapi.Server{Tracking: svc, Artifacts: store, Auth: as, Guard: guard}).Handler()
	do := func(who context.Context, method, target, ctype string, body []byte) resp {
		req := httptest.NewRequestWithContext(who, method, target, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return newResp(w.Code, w.Header(), w.Body.Bytes())
	}
	gql := func(who context.Context, query string) (int, map[string]any, []string) {
		b, _ := json.Marshal(map[string]any{"query": query})
		r := do(who, "POST", "/graphql", "application/json", b)
		var out struct {
			Data   map[string]any `json:"data"`
			Errors []string       `json:"errors"`
		}
		json.Unmarshal(r.Body, &out)
		return r.Status, out.Data, out.Errors
	}

	// REST: the ajax endpoints refuse what mallory may not do.
	refusal := func(r resp) string { m, _ := r.JSON["message"].(string); return m }
	restRun := do(asMallory, "GET", "/api/2.0/mlflow/runs/get?run_id="+secret, "", nil)
	wantError(t, restRun, http.StatusForbidden, "PERMISSION_DENIED", "runs/get of the secret run")
	restExp := do(asMallory, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+secretExp, "", nil)
	wantError(t, restExp, http.StatusForbidden, "PERMISSION_DENIED", "experiments/get of the secret experiment")
	for _, c := range []struct {
		method, target string
		body           []byte
	}{
		{"GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?metric_key=m&run_id=" + shared + "&run_id=" + secret, nil},
		{"POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", []byte(`{"experiment_ids": ["` + sharedExp + `", "` + secretExp + `"]}`)},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?path=x.txt&run_uuid=" + secret, []byte("x")},
		// READ is not enough to write.
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?path=x.txt&run_uuid=" + shared, []byte("x")},
	} {
		ctype := "application/json"
		if strings.Contains(c.target, "upload") {
			ctype = "application/octet-stream"
		}
		wantError(t, do(asMallory, c.method, c.target, ctype, c.body), http.StatusForbidden, "PERMISSION_DENIED", c.target)
	}
	if r := do(asMallory, "GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?metric_key=m&run_id="+shared, "", nil); r.Status != 200 {
		t.Errorf("get-history-bulk of a run mallory may read: %s", r)
	}
	if r := do(asMallory, "POST", "/ajax-api/2.0/mlflow/experiments/search-datasets", "application/json", []byte(`{"experiment_ids": ["`+sharedExp+`"]}`)); r.Status != 200 || !strings.Contains(string(r.Body), `"name":"d"`) {
		t.Errorf("search-datasets of an experiment mallory may read: %s", r)
	}
	if r := do(asAlice, "POST", "/ajax-api/2.0/mlflow/upload-artifact?path=x.txt&run_uuid="+secret, "application/octet-stream", []byte("x")); r.Status != 200 {
		t.Errorf("upload-artifact by the run's owner: %s", r)
	}
	if r := do(auth.NewContext(ctx, &auth.Identity{}), "POST", "/graphql", "application/json", []byte(`{"query": "{ test(inputString: \"x\") { output } }"}`)); r.Status != http.StatusUnauthorized {
		t.Errorf("graphql without signing in: %s, want 401", r)
	}

	// GraphQL: the same refusals, per field, with the REST message.
	for _, c := range []struct{ query, field, want string }{
		{`{ mlflowGetRun(input: {runId: "` + secret + `"}) { run { info { runId } } } }`, "mlflowGetRun", refusal(restRun)},
		{`{ mlflowGetRun(input: {runUuid: "` + secret + `"}) { run { info { runId } } } }`, "mlflowGetRun", refusal(restRun)},
		{`{ mlflowGetExperiment(input: {experimentId: "` + secretExp + `"}) { experiment { name } } }`, "mlflowGetExperiment", refusal(restExp)},
		{`{ mlflowListArtifacts(input: {runId: "` + secret + `"}) { files { path } } }`, "mlflowListArtifacts", refusal(restRun)},
		{`{ mlflowGetMetricHistoryBulkInterval(input: {runIds: ["` + shared + `", "` + secret + `"], metricKey: "m"}) { metrics { value } } }`, "mlflowGetMetricHistoryBulkInterval", refusal(restRun)},
		{`mutation { mlflowSearchDatasets(input: {experimentIds: ["` + secretExp + `"]}) { datasetSummaries { name } } }`, "mlflowSearchDatasets", refusal(restExp)},
	} {
		status, data, errs := gql(asMallory, c.query)
		if status != 200 || data[c.field] != nil || len(errs) != 1 || errs[0] != c.want {
			t.Errorf("%s as mallory: %d %v %q; want %s null and the error %q", c.query, status, data, errs, c.field, c.want)
		}
	}
	// Two fields: the readable one answers, the other is refused.
	_, data, errs := gql(asMallory, `{ a: mlflowGetRun(input: {runId: "`+shared+`"}) { run { info { runId } experiment { name } } } b: mlflowGetRun(input: {runId: "`+secret+`"}) { run { info { runId } } } }`)
	if data["a"] == nil || data["b"] != nil || len(errs) != 1 {
		t.Errorf("one readable run, one not: %v %q", data, errs)
	}
	// Searches hold what mallory may read.
	_, data, errs = gql(asMallory, `{ mlflowSearchRuns(input: {experimentIds: ["`+sharedExp+`", "`+secretExp+`"]}) { runs { info { runId } experiment { name } } } }`)
	runs, _ := data["mlflowSearchRuns"].(map[string]any)["runs"].([]any)
	if errs != nil || len(runs) != 1 || !strings.Contains(fmt.Sprint(runs), shared) {
		t.Errorf("mlflowSearchRuns over both experiments as mallory: %v %q; want the shared run only", data, errs)
	}
	// Alice, who owns both, reads both.
	_, data, errs = gql(asAlice, `{ a: mlflowGetRun(input: {runId: "`+secret+`"}) { run { info { runId } } } b: mlflowListArtifacts(input: {runId: "`+secret+`"}) { files { path } } }`)
	if errs != nil || data["a"] == nil || data["b"] == nil {
		t.Errorf("alice reading her run: %v %q", data, errs)
	}
}
