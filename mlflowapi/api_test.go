package mlflowapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/lode-ml/lode/mlflowapi"
)

// apiPrefixes are the two prefixes MLflow serves its tracking API under.
var apiPrefixes = []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}

// artifactPrefixes are those of the mlflow-artifacts proxy.
var artifactPrefixes = []string{"/api/2.0/mlflow-artifacts/artifacts", "/ajax-api/2.0/mlflow-artifacts/artifacts"}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func prefixName(p string) string { return strings.SplitN(strings.Trim(p, "/"), "/", 2)[0] }

// num returns a JSON number, failing when the value is not one (int64s
// must be JSON numbers in MLflow's responses, not strings).
func num(t *testing.T, v any, what string) float64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Errorf("%s: want a JSON number, got %#v", what, v)
	}
	return f
}

func TestExperimentsEndpoints(t *testing.T) {
	for _, prefix := range apiPrefixes {
		t.Run(prefixName(prefix), func(t *testing.T) {
			e := newAPIEnv(t)
			p := func(s string) string { return prefix + s }

			// create: JSON body, id comes back as a string.
			r := e.ok(e.do("POST", p("experiments/create"), map[string]any{
				"name": "exp-a", "tags": []map[string]string{{"key": "team", "value": "ml"}},
			}), "create exp-a")
			idA, ok := r["experiment_id"].(string)
			if !ok || idA == "" {
				t.Fatalf("experiment_id must be a non-empty string: %v", r)
			}
			r = e.ok(e.do("POST", p("experiments/create"), map[string]any{"name": "exp-s3", "artifact_location": "s3://bucket/some/path"}), "create exp-s3")
			idB := str(r, "experiment_id")

			// duplicate name
			wantError(t, e.do("POST", p("experiments/create"), map[string]any{"name": "exp-a"}), 400, "RESOURCE_ALREADY_EXISTS", "duplicate name")
			// missing name
			wantError(t, e.do("POST", p("experiments/create"), map[string]any{}), 400, "INVALID_PARAMETER_VALUE", "missing name")

			// get: GET with the id in the query string.
			g := e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idA}}), "get")
			exp := field(g, "experiment")
			if str(exp, "experiment_id") != idA || str(exp, "name") != "exp-a" || str(exp, "lifecycle_stage") != "active" {
				t.Errorf("experiments/get: %v", g)
			}
			if got, want := str(exp, "artifact_location"), "mlflow-artifacts:/"+idA; got != want {
				t.Errorf("artifact_location = %q, want %q", got, want)
			}
			if num(t, field(exp, "creation_time"), "creation_time") <= 0 || num(t, field(exp, "last_update_time"), "last_update_time") <= 0 {
				t.Errorf("times: %v", exp)
			}
			if tags := kv(list(exp, "tags")); tags["team"] != "ml" {
				t.Errorf("tags = %v", tags)
			}
			g = e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idB}}), "get s3")
			if got := str(g, "experiment", "artifact_location"); got != "s3://bucket/some/path" {
				t.Errorf("s3 artifact_location = %q", got)
			}
			wantError(t, e.get(p("experiments/get"), url.Values{"experiment_id": {"424242"}}), 404, "RESOURCE_DOES_NOT_EXIST", "get unknown")
			wantError(t, e.get(p("experiments/get"), url.Values{"experiment_id": {"not an id!"}}), 400, "INVALID_PARAMETER_VALUE", "get bad id")
			wantError(t, e.get(p("experiments/get"), nil), 400, "INVALID_PARAMETER_VALUE", "get no id")

			// get-by-name
			g = e.ok(e.get(p("experiments/get-by-name"), url.Values{"experiment_name": {"exp-a"}}), "get-by-name")
			if str(g, "experiment", "experiment_id") != idA {
				t.Errorf("get-by-name: %v", g)
			}
			wantError(t, e.get(p("experiments/get-by-name"), url.Values{"experiment_name": {"nope"}}), 404, "RESOURCE_DOES_NOT_EXIST", "get-by-name unknown")

			// search, POST and GET; max_results as a string; pages.
			s := e.ok(e.do("POST", p("experiments/search"), map[string]any{"max_results": "1000", "order_by": []string{"name ASC"}}), "search POST")
			var names []string
			for _, x := range list(s, "experiments") {
				names = append(names, str(x, "name"))
			}
			if strings.Join(names, ",") != "Default,exp-a,exp-s3" {
				t.Errorf("search names = %v", names)
			}
			s = e.ok(e.get(p("experiments/search"), url.Values{"max_results": {"2"}, "order_by": {"name DESC"}, "view_type": {"ACTIVE_ONLY"}}), "search GET")
			if l := list(s, "experiments"); len(l) != 2 || str(l[0], "name") != "exp-s3" || str(s, "next_page_token") == "" {
				t.Fatalf("search GET page 1: %v", s)
			}
			s = e.ok(e.get(p("experiments/search"), url.Values{"max_results": {"2"}, "order_by": {"name DESC"}, "page_token": {str(s, "next_page_token")}}), "search GET page 2")
			if l := list(s, "experiments"); len(l) != 1 || str(l[0], "name") != "Default" || s["next_page_token"] != nil {
				t.Errorf("search GET page 2: %v", s)
			}
			s = e.ok(e.do("POST", p("experiments/search"), map[string]any{"filter": "name = 'exp-a'"}), "search filter")
			if l := list(s, "experiments"); len(l) != 1 || str(l[0], "experiment_id") != idA {
				t.Errorf("search filter: %v", s)
			}
			wantError(t, e.do("POST", p("experiments/search"), map[string]any{"view_type": "SOMETIMES"}), 400, "INVALID_PARAMETER_VALUE", "search bad view_type")

			// update, with the id as a JSON number
			idANum := 0
			fmt.Sscan(idA, &idANum)
			e.ok(e.do("POST", p("experiments/update"), map[string]any{"experiment_id": idANum, "new_name": "exp-a2"}), "update")
			g = e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idA}}), "get renamed")
			if str(g, "experiment", "name") != "exp-a2" {
				t.Errorf("rename: %v", g)
			}
			wantError(t, e.do("POST", p("experiments/update"), map[string]any{"experiment_id": idB, "new_name": "exp-a2"}), 400, "BAD_REQUEST", "rename onto an existing name (MLflow reports it so)")

			// experiment tags
			e.ok(e.do("POST", p("experiments/set-experiment-tag"), map[string]any{"experiment_id": idANum, "key": "k", "value": "v"}), "set tag")
			e.ok(e.do("POST", p("experiments/set-experiment-tag"), map[string]any{"experiment_id": idA, "key": "team", "value": "core"}), "overwrite tag")
			g = e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idA}}), "get tags")
			if tags := kv(list(g, "experiment", "tags")); tags["k"] != "v" || tags["team"] != "core" {
				t.Errorf("tags after set = %v", tags)
			}
			e.ok(e.do("POST", p("experiments/delete-experiment-tag"), map[string]any{"experiment_id": idA, "key": "k"}), "delete tag")
			g = e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idA}}), "get tags")
			if tags := kv(list(g, "experiment", "tags")); len(tags) != 1 || tags["team"] != "core" {
				t.Errorf("tags after delete = %v", tags)
			}
			wantError(t, e.do("POST", p("experiments/set-experiment-tag"), map[string]any{"experiment_id": "424242", "key": "k", "value": "v"}), 404, "RESOURCE_DOES_NOT_EXIST", "tag unknown experiment")

			// delete / restore, and the errors around a deleted experiment
			e.ok(e.do("POST", p("experiments/delete"), map[string]any{"experiment_id": idB}), "delete")
			g = e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idB}}), "get deleted")
			if str(g, "experiment", "lifecycle_stage") != "deleted" {
				t.Errorf("after delete: %v", g)
			}
			s = e.ok(e.do("POST", p("experiments/search"), map[string]any{"view_type": "DELETED_ONLY"}), "search deleted")
			if l := list(s, "experiments"); len(l) != 1 || str(l[0], "experiment_id") != idB {
				t.Errorf("search DELETED_ONLY: %v", s)
			}
			s = e.ok(e.get(p("experiments/search"), url.Values{"view_type": {"3"}}), "search ALL by number")
			if l := list(s, "experiments"); len(l) != 3 {
				t.Errorf("search ALL: %v", s)
			}
			wantError(t, e.do("POST", p("experiments/update"), map[string]any{"experiment_id": idB, "new_name": "zzz"}), 500, "INVALID_STATE", "rename deleted")
			wantError(t, e.do("POST", p("experiments/delete"), map[string]any{"experiment_id": idB}), 404, "RESOURCE_DOES_NOT_EXIST", "delete twice")
			wantError(t, e.do("POST", p("runs/create"), map[string]any{"experiment_id": idB}), 400, "INVALID_PARAMETER_VALUE", "run in deleted experiment")
			e.ok(e.do("POST", p("experiments/restore"), map[string]any{"experiment_id": idB}), "restore")
			g = e.ok(e.get(p("experiments/get"), url.Values{"experiment_id": {idB}}), "get restored")
			if str(g, "experiment", "lifecycle_stage") != "active" {
				t.Errorf("after restore: %v", g)
			}
			wantError(t, e.do("POST", p("experiments/restore"), map[string]any{"experiment_id": idB}), 404, "RESOURCE_DOES_NOT_EXIST", "restore active")
		})
	}
}

func TestRunsEndpoints(t *testing.T) {
	for _, prefix := range apiPrefixes {
		t.Run(prefixName(prefix), func(t *testing.T) {
			e := newAPIEnv(t)
			p := func(s string) string { return prefix + s }
			exp := str(e.ok(e.do("POST", p("experiments/create"), map[string]any{"name": "runs"}), "create exp"), "experiment_id")
			var expNum int
			fmt.Sscan(exp, &expNum)

			// runs/create: experiment id as a number, start_time as a string.
			r := e.ok(e.do("POST", p("runs/create"), map[string]any{
				"experiment_id": expNum, "user_id": "alice", "start_time": "1700000000000", "run_name": "r1",
				"tags": []map[string]string{{"key": "t1", "value": "v1"}},
			}), "runs/create")
			info := field(r, "run", "info")
			run := str(info, "run_id")
			if !hex32.MatchString(run) || str(info, "run_uuid") != run {
				t.Fatalf("run_id/run_uuid: %v", info)
			}
			if str(info, "experiment_id") != exp || str(info, "status") != "RUNNING" || str(info, "user_id") != "alice" ||
				str(info, "run_name") != "r1" || str(info, "lifecycle_stage") != "active" {
				t.Errorf("run info: %v", info)
			}
			if got := num(t, field(info, "start_time"), "start_time"); got != 1700000000000 {
				t.Errorf("start_time = %v", got)
			}
			if got, want := str(info, "artifact_uri"), "mlflow-artifacts:/"+exp+"/"+run+"/artifacts"; got != want {
				t.Errorf("artifact_uri = %q, want %q", got, want)
			}
			if _, ok := field(r, "run", "data").(map[string]any); !ok {
				t.Errorf("run.data missing: %v", r)
			}
			if _, ok := field(r, "run", "inputs").(map[string]any); !ok {
				t.Errorf("run.inputs missing: %v", r)
			}
			if tags := kv(list(r, "run", "data", "tags")); tags["t1"] != "v1" || tags["mlflow.runName"] != "r1" {
				t.Errorf("run tags = %v", tags)
			}
			// A run in the default experiment (no experiment_id).
			r2 := str(e.ok(e.do("POST", p("runs/create"), map[string]any{"start_time": 1700000000000}), "runs/create default"), "run", "info", "run_id")
			wantError(t, e.do("POST", p("runs/create"), map[string]any{"experiment_id": "424242"}), 404, "RESOURCE_DOES_NOT_EXIST", "run in unknown experiment")
			wantError(t, e.do("POST", p("runs/create"), map[string]any{"experiment_id": exp, "start_time": "soon"}), 400, "INVALID_PARAMETER_VALUE", "bad start_time")

			// runs/get, by run_id and by the legacy run_uuid.
			g := e.ok(e.get(p("runs/get"), url.Values{"run_id": {run}}), "runs/get")
			if str(g, "run", "info", "run_id") != run {
				t.Errorf("runs/get: %v", g)
			}
			g = e.ok(e.get(p("runs/get"), url.Values{"run_uuid": {run}}), "runs/get run_uuid")
			if str(g, "run", "info", "run_uuid") != run {
				t.Errorf("runs/get run_uuid: %v", g)
			}
			wantError(t, e.get(p("runs/get"), url.Values{"run_id": {strings.Repeat("ab", 16)}}), 404, "RESOURCE_DOES_NOT_EXIST", "get unknown run")
			wantError(t, e.get(p("runs/get"), nil), 400, "INVALID_PARAMETER_VALUE", "get run without id")

			// log-metric in every form MLflow's clients send.
			for i, body := range []map[string]any{
				{"run_id": run, "key": "loss", "value": 0.5, "timestamp": 1700000000001, "step": 0},
				{"run_uuid": run, "key": "loss", "value": "NaN", "timestamp": "1700000000002", "step": "1"},
				{"run_id": run, "run_uuid": run, "key": "loss", "value": "Infinity", "timestamp": 1700000000003, "step": 2},
				{"run_id": run, "key": "loss", "value": "-Infinity", "timestamp": 1700000000004, "step": "3"},
				{"run_id": run, "key": "loss", "value": "0.25", "timestamp": "1700000000005", "step": 4},
			} {
				e.ok(e.do("POST", p("runs/log-metric"), body), fmt.Sprintf("log-metric %d", i))
			}
			wantError(t, e.do("POST", p("runs/log-metric"), map[string]any{"run_id": run, "key": "loss", "value": 1}), 400, "INVALID_PARAMETER_VALUE", "log-metric without timestamp")
			wantError(t, e.do("POST", p("runs/log-metric"), map[string]any{"run_id": run, "key": "loss", "timestamp": 1}), 400, "INVALID_PARAMETER_VALUE", "log-metric without value")
			wantError(t, e.do("POST", p("runs/log-metric"), map[string]any{"run_id": run, "key": "loss", "value": "lots", "timestamp": 1}), 400, "INVALID_PARAMETER_VALUE", "log-metric bad value")
			wantError(t, e.do("POST", p("runs/log-metric"), map[string]any{"run_id": strings.Repeat("cd", 16), "key": "loss", "value": 1, "timestamp": 1}), 404, "RESOURCE_DOES_NOT_EXIST", "log-metric unknown run")

			// log-parameter / set-tag / delete-tag
			e.ok(e.do("POST", p("runs/log-parameter"), map[string]any{"run_id": run, "key": "lr", "value": "0.01"}), "log-parameter")
			e.ok(e.do("POST", p("runs/log-parameter"), map[string]any{"run_uuid": run, "key": "lr", "value": "0.01"}), "log-parameter same value again")
			e.ok(e.do("POST", p("runs/log-parameter"), map[string]any{"run_id": run, "key": "empty", "value": ""}), "log-parameter empty value")
			wantError(t, e.do("POST", p("runs/log-parameter"), map[string]any{"run_id": run, "key": "lr", "value": "0.02"}), 400, "INVALID_PARAMETER_VALUE", "change a param")
			wantError(t, e.do("POST", p("runs/log-parameter"), map[string]any{"run_id": run, "key": "nov"}), 400, "INVALID_PARAMETER_VALUE", "param without value")
			e.ok(e.do("POST", p("runs/set-tag"), map[string]any{"run_id": run, "key": "color", "value": "red"}), "set-tag")
			e.ok(e.do("POST", p("runs/set-tag"), map[string]any{"run_id": run, "key": "gone", "value": "soon"}), "set-tag")
			e.ok(e.do("POST", p("runs/delete-tag"), map[string]any{"run_id": run, "key": "gone"}), "delete-tag")
			wantError(t, e.do("POST", p("runs/set-tag"), map[string]any{"run_id": run, "value": "x"}), 400, "INVALID_PARAMETER_VALUE", "set-tag without key")

			// log-batch, with NaN and string int64s
			e.ok(e.do("POST", p("runs/log-batch"), map[string]any{
				"run_id": run,
				"metrics": []map[string]any{
					{"key": "acc", "value": "NaN", "timestamp": "5", "step": "7"},
					{"key": "acc", "value": 0.9, "timestamp": 6, "step": 8},
				},
				"params": []map[string]string{{"key": "bs", "value": "32"}},
				"tags":   []map[string]string{{"key": "note", "value": "x"}},
			}), "log-batch")
			wantError(t, e.do("POST", p("runs/log-batch"), map[string]any{"run_id": run, "params": []map[string]string{{"key": "bs", "value": "64"}}}), 400, "INVALID_PARAMETER_VALUE", "log-batch changing a param")
			wantError(t, e.do("POST", p("runs/log-batch"), map[string]any{}), 400, "INVALID_PARAMETER_VALUE", "log-batch without run_id")
			e.ok(e.do("POST", p("runs/log-batch"), map[string]any{"run_id": r2, "metrics": []map[string]any{{"key": "loss", "value": 3, "timestamp": 9, "step": 0}}}), "log-batch r2")

			// metrics/get-history: values in protobuf JSON (NaN as a string,
			// ±Infinity stored as ±MaxFloat64, as MLflow's SQL store does).
			h := e.ok(e.get(p("metrics/get-history"), url.Values{"run_id": {run}, "metric_key": {"loss"}}), "get-history")
			byStep := map[float64]map[string]any{}
			for _, m := range list(h, "metrics") {
				mm := m.(map[string]any)
				if str(mm, "key") != "loss" {
					t.Errorf("history entry key: %v", mm)
				}
				num(t, mm["timestamp"], "timestamp")
				byStep[num(t, mm["step"], "step")] = mm
			}
			if len(byStep) != 5 {
				t.Fatalf("get-history: want 5 values, got %v", h)
			}
			if v := byStep[0]["value"]; v != 0.5 {
				t.Errorf("step 0 value = %#v", v)
			}
			if v := byStep[1]["value"]; v != "NaN" {
				t.Errorf("step 1 value = %#v, want \"NaN\"", v)
			}
			if v := byStep[2]["value"]; v != math.MaxFloat64 && v != "Infinity" {
				t.Errorf("step 2 value = %#v, want MaxFloat64 or \"Infinity\"", v)
			}
			if v := byStep[3]["value"]; v != -math.MaxFloat64 && v != "-Infinity" {
				t.Errorf("step 3 value = %#v, want -MaxFloat64 or \"-Infinity\"", v)
			}
			if v := byStep[4]["value"]; v != 0.25 {
				t.Errorf("step 4 value = %#v", v)
			}
			if ts := byStep[1]["timestamp"]; ts != float64(1700000000002) {
				t.Errorf("step 1 timestamp = %#v", ts)
			}
			wantError(t, e.get(p("metrics/get-history"), url.Values{"run_id": {run}}), 400, "INVALID_PARAMETER_VALUE", "get-history without key")
			// MLflow answers an unknown run's history with an empty object.
			if h := e.ok(e.get(p("metrics/get-history"), url.Values{"run_id": {strings.Repeat("ef", 16)}, "metric_key": {"loss"}}), "get-history unknown run"); len(h) != 0 {
				t.Errorf("get-history unknown run = %v, want {}", h)
			}
			// pages
			h = e.ok(e.get(p("metrics/get-history"), url.Values{"run_id": {run}, "metric_key": {"loss"}, "max_results": {"2"}}), "get-history page")
			if len(list(h, "metrics")) != 2 || str(h, "next_page_token") == "" {
				t.Errorf("get-history page 1: %v", h)
			}

			// get-history-bulk-interval: repeated run_ids in the query.
			b := e.ok(e.get(p("metrics/get-history-bulk-interval"), url.Values{"run_ids": {run, r2}, "metric_key": {"loss"}, "max_results": {"100"}}), "bulk-interval")
			runsSeen := map[string]int{}
			for _, m := range list(b, "metrics") {
				runsSeen[str(m, "run_id")]++
			}
			if runsSeen[run] != 5 || runsSeen[r2] != 1 {
				t.Errorf("bulk-interval runs = %v (%v)", runsSeen, b)
			}
			b = e.ok(e.get(p("metrics/get-history-bulk-interval"), url.Values{"run_ids": {run}, "metric_key": {"loss"}, "start_step": {"1"}, "end_step": {"3"}}), "bulk-interval steps")
			for _, m := range list(b, "metrics") {
				if s := num(t, field(m, "step"), "step"); s < 1 || s > 3 {
					t.Errorf("bulk-interval step %v out of [1,3]", s)
				}
			}
			wantError(t, e.get(p("metrics/get-history-bulk-interval"), url.Values{"metric_key": {"loss"}}), 400, "INVALID_PARAMETER_VALUE", "bulk-interval without runs")

			// runs/get data: latest metrics, params, tags.
			g = e.ok(e.get(p("runs/get"), url.Values{"run_id": {run}}), "runs/get data")
			latest := map[string]any{}
			for _, m := range list(g, "run", "data", "metrics") {
				latest[str(m, "key")] = field(m, "value")
			}
			if latest["loss"] != 0.25 || latest["acc"] != 0.9 {
				t.Errorf("latest metrics = %v", latest)
			}
			if params := kv(list(g, "run", "data", "params")); params["lr"] != "0.01" || params["bs"] != "32" || params["empty"] != "" || len(params) != 3 {
				t.Errorf("params = %v", params)
			}
			tags := kv(list(g, "run", "data", "tags"))
			if tags["color"] != "red" || tags["note"] != "x" || tags["t1"] != "v1" {
				t.Errorf("tags = %v", tags)
			}
			if _, ok := tags["gone"]; ok {
				t.Errorf("deleted tag still there: %v", tags)
			}

			// log-inputs
			e.ok(e.do("POST", p("runs/log-inputs"), map[string]any{
				"run_id": run,
				"datasets": []map[string]any{{
					"tags":    []map[string]string{{"key": "mlflow.data.context", "value": "train"}},
					"dataset": map[string]string{"name": "ds", "digest": "abc123", "source_type": "local", "source": "{}", "schema": "{}", "profile": "{}"},
				}},
			}), "log-inputs")
			g = e.ok(e.get(p("runs/get"), url.Values{"run_id": {run}}), "runs/get inputs")
			di := list(g, "run", "inputs", "dataset_inputs")
			if len(di) != 1 || str(di[0], "dataset", "name") != "ds" || str(di[0], "dataset", "digest") != "abc123" ||
				kv(list(di[0], "tags"))["mlflow.data.context"] != "train" {
				t.Errorf("dataset_inputs = %v", di)
			}

			// runs/update: end_time as a string
			u := e.ok(e.do("POST", p("runs/update"), map[string]any{"run_id": run, "status": "FINISHED", "end_time": "1700000009999", "run_name": "r1b"}), "runs/update")
			ri := field(u, "run_info")
			if str(ri, "status") != "FINISHED" || str(ri, "run_name") != "r1b" || str(ri, "run_id") != run {
				t.Errorf("run_info = %v", ri)
			}
			if got := num(t, field(ri, "end_time"), "end_time"); got != 1700000009999 {
				t.Errorf("end_time = %v", got)
			}
			wantError(t, e.do("POST", p("runs/update"), map[string]any{"run_id": run, "status": "SLEEPING"}), 400, "INVALID_PARAMETER_VALUE", "bad status")

			// runs/search: experiment ids as numbers and strings.
			r3 := str(e.ok(e.do("POST", p("runs/create"), map[string]any{"experiment_id": exp, "start_time": 1700000000100}), "third run"), "run", "info", "run_id")
			s := e.ok(e.do("POST", p("runs/search"), map[string]any{"experiment_ids": []any{expNum}, "max_results": "10", "run_view_type": "ACTIVE_ONLY", "order_by": []string{"start_time DESC"}}), "runs/search")
			var ids []string
			for _, x := range list(s, "runs") {
				ids = append(ids, str(x, "info", "run_id"))
			}
			if strings.Join(ids, ",") != r3+","+run {
				t.Errorf("runs/search = %v, want [%s %s]", ids, r3, run)
			}
			s = e.ok(e.do("POST", p("runs/search"), map[string]any{"experiment_ids": []any{exp}, "filter": "attributes.status = 'FINISHED'"}), "runs/search filter")
			if l := list(s, "runs"); len(l) != 1 || str(l[0], "info", "run_id") != run {
				t.Errorf("runs/search filter: %v", s)
			}
			s = e.ok(e.do("POST", p("runs/search"), map[string]any{"experiment_ids": []string{exp, "0"}, "max_results": 1, "order_by": []string{"start_time ASC"}}), "runs/search page 1")
			if len(list(s, "runs")) != 1 || str(s, "next_page_token") == "" {
				t.Fatalf("runs/search page 1: %v", s)
			}
			seen := map[string]bool{str(list(s, "runs")[0], "info", "run_id"): true}
			for tok := str(s, "next_page_token"); tok != ""; tok = str(s, "next_page_token") {
				s = e.ok(e.do("POST", p("runs/search"), map[string]any{"experiment_ids": []string{exp, "0"}, "max_results": 1, "order_by": []string{"start_time ASC"}, "page_token": tok}), "runs/search next page")
				for _, x := range list(s, "runs") {
					seen[str(x, "info", "run_id")] = true
				}
				if len(seen) > 10 {
					t.Fatal("runs/search pages do not end")
				}
			}
			if len(seen) != 3 || !seen[run] || !seen[r2] || !seen[r3] {
				t.Errorf("runs/search pages saw %v", seen)
			}
			wantError(t, e.do("POST", p("runs/search"), map[string]any{"experiment_ids": []string{exp}, "run_view_type": "NEVER"}), 400, "INVALID_PARAMETER_VALUE", "runs/search bad view")

			// delete / restore
			e.ok(e.do("POST", p("runs/delete"), map[string]any{"run_id": r3}), "runs/delete")
			g = e.ok(e.get(p("runs/get"), url.Values{"run_id": {r3}}), "get deleted run")
			if str(g, "run", "info", "lifecycle_stage") != "deleted" {
				t.Errorf("deleted run: %v", g)
			}
			wantError(t, e.do("POST", p("runs/log-metric"), map[string]any{"run_id": r3, "key": "m", "value": 1, "timestamp": 1}), 400, "INVALID_PARAMETER_VALUE", "log to a deleted run")
			s = e.ok(e.do("POST", p("runs/search"), map[string]any{"experiment_ids": []string{exp}, "run_view_type": "DELETED_ONLY"}), "search deleted runs")
			if l := list(s, "runs"); len(l) != 1 || str(l[0], "info", "run_id") != r3 {
				t.Errorf("DELETED_ONLY runs: %v", s)
			}
			e.ok(e.do("POST", p("runs/restore"), map[string]any{"run_id": r3}), "runs/restore")
			g = e.ok(e.get(p("runs/get"), url.Values{"run_id": {r3}}), "get restored run")
			if str(g, "run", "info", "lifecycle_stage") != "active" {
				t.Errorf("restored run: %v", g)
			}
			wantError(t, e.do("POST", p("runs/delete"), map[string]any{"run_id": strings.Repeat("0a", 16)}), 404, "RESOURCE_DOES_NOT_EXIST", "delete unknown run")
		})
	}
}

// TestPostWithQueryString: a POST with an empty body and its fields in the
// query string is accepted (MLflow's server reads either).
func TestPostWithQueryString(t *testing.T) {
	e := newAPIEnv(t)
	// A POST must be JSON, as in MLflow: a bodiless form post from a web
	// page (no CORS preflight) must not create or delete anything.
	form := rawDo(t, e.addr(), "POST", "/api/2.0/mlflow/experiments/create?name=from-form", nil)
	wantError(t, form, 400, "INVALID_PARAMETER_VALUE", "POST without Content-Type")
	r := e.do("POST", "/api/2.0/mlflow/experiments/create?name=from-query", "")
	id := str(e.ok(r, "create from query"), "experiment_id")
	g := e.ok(e.get("/api/2.0/mlflow/experiments/get", url.Values{"experiment_id": {id}}), "get")
	if str(g, "experiment", "name") != "from-query" {
		t.Errorf("got %v", g)
	}
}

// TestDoubleEncodedBody: older clients send the JSON body as a JSON string.
func TestDoubleEncodedBody(t *testing.T) {
	e := newAPIEnv(t)
	r := e.do("POST", "/api/2.0/mlflow/experiments/create", `"{\"name\": \"double\"}"`)
	e.ok(r, "double-encoded body")
	e.ok(e.get("/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {"double"}}), "get double")
}

func TestMalformedJSON(t *testing.T) {
	e := newAPIEnv(t)
	for _, body := range []string{
		`{"name":`,
		`not json at all`,
		`{"name": "x",}`,
		`{"name": 5}`,
		`["name"]`,
		`{"name": "x", "tags": {"key": "a"}}`,
	} {
		r := e.do("POST", "/api/2.0/mlflow/experiments/create", body)
		if r.Status != 400 || r.JSON == nil {
			t.Errorf("body %s: want 400 with an error body, got %s", body, r)
			continue
		}
		code := str(r.JSON, "error_code")
		if code != "INVALID_PARAMETER_VALUE" && code != "BAD_REQUEST" {
			t.Errorf("body %s: error_code %q", body, code)
		}
		msg := str(r.JSON, "message")
		if msg == "" || strings.Contains(msg, "json: ") || strings.Contains(msg, "mlflowapi") {
			t.Errorf("body %s: message %q is not a readable message", body, msg)
		}
	}
	// Typed-field errors name the field.
	r := e.do("POST", "/api/2.0/mlflow/runs/log-metric", `{"run_id": "x", "key": "k", "value": 1, "timestamp": {"a": 1}}`)
	wantError(t, r, 400, "INVALID_PARAMETER_VALUE", "object for an int64")
	r = e.do("POST", "/api/2.0/mlflow/experiments/create", `{"name": 5}`)
	if msg := str(r.JSON, "message"); !strings.Contains(msg, "name") {
		t.Errorf("type error message does not name the field: %q", msg)
	}
	// Bad query strings on GET.
	wantError(t, e.get("/api/2.0/mlflow/experiments/search", url.Values{"max_results": {"many"}}), 400, "INVALID_PARAMETER_VALUE", "GET bad int64")
	// Nothing was created.
	s := e.ok(e.do("POST", "/api/2.0/mlflow/experiments/search", map[string]any{"view_type": "ALL"}), "search")
	if l := list(s, "experiments"); len(l) != 1 {
		t.Errorf("malformed requests created experiments: %v", s)
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) { s.MaxBodyBytes = 4096 })
	run := str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "create run"), "run", "info", "run_id")
	var params []map[string]string
	for i := 0; i < 100; i++ {
		params = append(params, map[string]string{"key": fmt.Sprintf("p%03d", i), "value": strings.Repeat("v", 40)})
	}
	big := map[string]any{"run_id": run, "params": params}

	// Known length.
	r := e.do("POST", "/api/2.0/mlflow/runs/log-batch", big)
	if r.Status < 400 || r.Status >= 500 || r.JSON == nil || str(r.JSON, "error_code") == "" {
		t.Errorf("oversized body: want a 4xx error body, got %s", r)
	}
	// Unknown length (chunked).
	j, _ := json.Marshal(big)
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/2.0/mlflow/runs/log-batch", io.MultiReader(bytes.NewReader(j)))
	req.ContentLength = -1
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	cr := newResp(res.StatusCode, res.Header, data)
	if cr.Status < 400 || cr.Status >= 500 || str(cr.JSON, "error_code") == "" {
		t.Errorf("oversized chunked body: want a 4xx error body, got %s", cr)
	}
	// Nothing stored.
	g := e.ok(e.get("/api/2.0/mlflow/runs/get", url.Values{"run_id": {run}}), "runs/get")
	if ps := list(g, "run", "data", "params"); len(ps) != 0 {
		t.Errorf("an oversized request stored %d params", len(ps))
	}
	// A body just under the limit still works.
	e.ok(e.do("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": run, "params": params[:20]}), "small batch")
}

func TestUnknownEndpointAndWrongMethod(t *testing.T) {
	e := newAPIEnv(t)
	for _, path := range []string{
		"/api/2.0/mlflow/nope",
		"/api/2.0/mlflow/runs/nope",
		"/ajax-api/2.0/mlflow/experiments/nope",
		"/api/2.0/nope",
		"/api/2.1/mlflow/runs/get",
		"/",
	} {
		for _, m := range []string{"GET", "POST"} {
			if r := e.do(m, path, nil); r.Status != 404 {
				t.Errorf("%s %s: status %d, want 404 (%s)", m, path, r.Status, r)
			}
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/2.0/mlflow/runs/create"},
		{"GET", "/ajax-api/2.0/mlflow/runs/log-batch"},
		{"POST", "/api/2.0/mlflow/runs/get"},
		{"PUT", "/api/2.0/mlflow/experiments/create"},
		{"DELETE", "/api/2.0/mlflow/experiments/get"},
		{"POST", "/api/2.0/mlflow/metrics/get-history"},
		{"PUT", "/api/2.0/mlflow/logged-models/search"},
		{"POST", "/health"},
	} {
		r := e.do(c.method, c.path, nil)
		if r.Status != 405 {
			t.Errorf("%s %s: status %d, want 405 (%s)", c.method, c.path, r.Status, r)
		}
	}
}

// TestArtifactProxyWrongMethod: the proxy answers methods it does not serve
// with 405, as MLflow (Flask) does and as its own Allow header implies.
func TestArtifactProxyWrongMethod(t *testing.T) {
	e := newAPIEnv(t)
	e.ok(e.do("PUT", artifactPrefixes[0]+"/0/x.txt", []byte("x")), "put")
	for _, c := range []struct{ method, path string }{
		{"POST", artifactPrefixes[0] + "/0/x.txt"},
		{"PATCH", artifactPrefixes[1] + "/0/x.txt"},
		{"POST", artifactPrefixes[0]},
		{"PUT", artifactPrefixes[0]},
		{"DELETE", artifactPrefixes[0] + "?path=0"},
	} {
		r := e.do(c.method, c.path, []byte("y"))
		if r.Status != 405 {
			t.Errorf("%s %s: status %d, want 405 (%s)", c.method, c.path, r.Status, r)
		}
	}
	// Nothing changed.
	if g := e.do("GET", artifactPrefixes[0]+"/0/x.txt", nil); g.Status != 200 || string(g.Body) != "x" {
		t.Errorf("x.txt after wrong methods: %s", g)
	}
}

func TestHealthAndVersion(t *testing.T) {
	e := newAPIEnv(t)
	r := e.do("GET", "/health", nil)
	if r.Status != 200 || string(r.Body) != "OK" {
		t.Errorf("/health: %s", r)
	}
	r = e.do("GET", "/version", nil)
	if r.Status != 200 || string(r.Body) != mlflowapi.MLflowVersion {
		t.Errorf("/version: %s, want the MLflow API version %s", r, mlflowapi.MLflowVersion)
	}
	for _, prefix := range []string{"/api/2.0/lode/", "/ajax-api/2.0/lode/"} {
		r = e.do("GET", prefix+"version", nil)
		if got := r.JSON; r.Status != 200 || got["lode_version"] != testVersion || got["mlflow_api_version"] != mlflowapi.MLflowVersion ||
			got["go_version"] != runtime.Version() {
			t.Errorf("%sversion: %s", prefix, r)
		}
	}
}

func TestLoggedModelsEndpoints(t *testing.T) {
	for _, prefix := range apiPrefixes {
		t.Run(prefixName(prefix), func(t *testing.T) {
			e := newAPIEnv(t)
			p := func(s string) string { return prefix + s }
			exp := str(e.ok(e.do("POST", p("experiments/create"), map[string]any{"name": "models"}), "create exp"), "experiment_id")
			var expNum int
			fmt.Sscan(exp, &expNum)
			run := str(e.ok(e.do("POST", p("runs/create"), map[string]any{"experiment_id": exp}), "create run"), "run", "info", "run_id")

			r := e.ok(e.do("POST", p("logged-models"), map[string]any{
				"experiment_id": expNum, "name": "model-a", "model_type": "sklearn", "source_run_id": run,
				"params": []map[string]string{{"key": "alpha", "value": "0.1"}},
				"tags":   []map[string]string{{"key": "stage", "value": "dev"}},
			}), "create logged model")
			info := field(r, "model", "info")
			id := str(info, "model_id")
			if !strings.HasPrefix(id, "m-") || str(info, "experiment_id") != exp || str(info, "name") != "model-a" ||
				str(info, "status") != "LOGGED_MODEL_PENDING" || str(info, "model_type") != "sklearn" || str(info, "source_run_id") != run {
				t.Fatalf("created model info: %v", info)
			}
			if got, want := str(info, "artifact_uri"), "mlflow-artifacts:/"+exp+"/models/"+id+"/artifacts"; got != want {
				t.Errorf("artifact_uri = %q, want %q", got, want)
			}
			if num(t, field(info, "creation_timestamp_ms"), "creation_timestamp_ms") <= 0 || num(t, field(info, "last_updated_timestamp_ms"), "last_updated_timestamp_ms") <= 0 {
				t.Errorf("timestamps: %v", info)
			}
			if kv(list(info, "tags"))["stage"] != "dev" || kv(list(r, "model", "data", "params"))["alpha"] != "0.1" {
				t.Errorf("tags/params: %v", r)
			}
			wantError(t, e.do("POST", p("logged-models"), map[string]any{"experiment_id": "424242", "name": "x"}), 404, "RESOURCE_DOES_NOT_EXIST", "model in unknown experiment")
			wantError(t, e.do("POST", p("logged-models"), map[string]any{"experiment_id": exp, "name": "bad/name"}), 400, "INVALID_PARAMETER_VALUE", "bad model name")

			g := e.ok(e.do("GET", p("logged-models/"+id), nil), "get model")
			if str(g, "model", "info", "model_id") != id {
				t.Errorf("get model: %v", g)
			}
			wantError(t, e.do("GET", p("logged-models/m-doesnotexist"), nil), 404, "RESOURCE_DOES_NOT_EXIST", "get unknown model")

			// finalize
			f := e.ok(e.do("PATCH", p("logged-models/"+id), map[string]any{"status": "LOGGED_MODEL_READY"}), "finalize")
			if str(f, "model", "info", "status") != "LOGGED_MODEL_READY" {
				t.Errorf("finalize: %v", f)
			}
			wantError(t, e.do("PATCH", p("logged-models/"+id), map[string]any{"status": "DONE"}), 400, "INVALID_PARAMETER_VALUE", "finalize bad status")
			wantError(t, e.do("PATCH", p("logged-models/m-doesnotexist"), map[string]any{"status": "LOGGED_MODEL_READY"}), 404, "RESOURCE_DOES_NOT_EXIST", "finalize unknown")

			// tags
			e.ok(e.do("PATCH", p("logged-models/"+id+"/tags"), map[string]any{"tags": []map[string]string{{"key": "k2", "value": "v2"}, {"key": "stage", "value": "prod"}}}), "set tags")
			g = e.ok(e.do("GET", p("logged-models/"+id), nil), "get after tags")
			if tags := kv(list(g, "model", "info", "tags")); tags["k2"] != "v2" || tags["stage"] != "prod" {
				t.Errorf("tags = %v", tags)
			}
			e.ok(e.do("DELETE", p("logged-models/"+id+"/tags/k2"), nil), "delete tag")
			g = e.ok(e.do("GET", p("logged-models/"+id), nil), "get after tag delete")
			if tags := kv(list(g, "model", "info", "tags")); len(tags) != 1 || tags["stage"] != "prod" {
				t.Errorf("tags after delete = %v", tags)
			}

			// params
			e.ok(e.do("POST", p("logged-models/"+id+"/params"), map[string]any{"params": []map[string]string{{"key": "beta", "value": "2"}}}), "log params")
			g = e.ok(e.do("GET", p("logged-models/"+id), nil), "get after params")
			if ps := kv(list(g, "model", "data", "params")); ps["alpha"] != "0.1" || ps["beta"] != "2" {
				t.Errorf("params = %v", ps)
			}

			// search
			id2 := str(e.ok(e.do("POST", p("logged-models"), map[string]any{"experiment_id": exp, "name": "model-b"}), "second model"), "model", "info", "model_id")
			s := e.ok(e.do("POST", p("logged-models/search"), map[string]any{"experiment_ids": []any{expNum}, "max_results": "10"}), "search models")
			var found []string
			for _, m := range list(s, "models") {
				found = append(found, str(m, "info", "model_id"))
			}
			sort.Strings(found)
			want := []string{id, id2}
			sort.Strings(want)
			if strings.Join(found, ",") != strings.Join(want, ",") {
				t.Errorf("search found %v, want %v", found, want)
			}
			s = e.ok(e.do("POST", p("logged-models/search"), map[string]any{
				"experiment_ids": []string{exp}, "filter": "name = 'model-a'",
				"order_by": []map[string]any{{"field_name": "creation_timestamp", "ascending": false}},
			}), "search filter")
			if l := list(s, "models"); len(l) != 1 || str(l[0], "info", "model_id") != id {
				t.Errorf("search filter: %v", s)
			}
			wantError(t, e.do("POST", p("logged-models/search"), map[string]any{}), 400, "INVALID_PARAMETER_VALUE", "search without experiments")

			// artifacts: upload through the proxy, list through the model.
			root := exp + "/models/" + id + "/artifacts"
			e.ok(e.do("PUT", artifactPrefixes[0]+"/"+root+"/MLmodel", []byte("flavors: {}\n")), "put MLmodel")
			e.ok(e.do("PUT", artifactPrefixes[0]+"/"+root+"/sub/model.pkl", []byte{0, 1, 2, 3}), "put model.pkl")
			d := e.ok(e.get(p("logged-models/"+id+"/artifacts/directories"), nil), "list model artifacts")
			got := map[string]string{}
			for _, f := range list(d, "files") {
				got[str(f, "path")] = fmt.Sprint(field(f, "is_dir"), field(f, "file_size"))
			}
			if len(got) != 2 || got["MLmodel"] != "false 12" || got["sub"] != "true <nil>" {
				t.Errorf("model artifacts = %v (%v)", got, d)
			}
			d = e.ok(e.get(p("logged-models/"+id+"/artifacts/directories"), url.Values{"artifact_directory_path": {"sub"}}), "list model sub")
			if l := list(d, "files"); len(l) != 1 || str(l[0], "path") != "sub/model.pkl" || field(l[0], "file_size") != float64(4) {
				t.Errorf("model sub artifacts = %v", d)
			}
			dl := e.get("/ajax-api/2.0/mlflow/logged-models/"+id+"/artifacts/files", url.Values{"artifact_file_path": {"sub/model.pkl"}})
			if dl.Status != 200 || !bytes.Equal(dl.Body, []byte{0, 1, 2, 3}) {
				t.Errorf("model file download: %s", dl)
			}

			// runs/outputs and model inputs
			e.ok(e.do("POST", p("runs/outputs"), map[string]any{"run_id": run, "models": []map[string]any{{"model_id": id, "step": "3"}}}), "runs/outputs")
			e.ok(e.do("POST", p("runs/log-inputs"), map[string]any{"run_id": run, "models": []map[string]any{{"model_id": id2}}}), "log-inputs models")
			rg := e.ok(e.get(p("runs/get"), url.Values{"run_id": {run}}), "runs/get outputs")
			mo := list(rg, "run", "outputs", "model_outputs")
			if len(mo) != 1 || str(mo[0], "model_id") != id || field(mo[0], "step") != float64(3) {
				t.Errorf("model_outputs = %v", field(rg, "run", "outputs"))
			}
			mi := list(rg, "run", "inputs", "model_inputs")
			if len(mi) != 1 || str(mi[0], "model_id") != id2 {
				t.Errorf("model_inputs = %v", field(rg, "run", "inputs"))
			}

			// delete
			e.ok(e.do("DELETE", p("logged-models/"+id2), nil), "delete model")
			wantError(t, e.do("GET", p("logged-models/"+id2), nil), 404, "RESOURCE_DOES_NOT_EXIST", "get deleted model")
		})
	}
}

func TestArtifactProxyRoundTrip(t *testing.T) {
	for _, ap := range artifactPrefixes {
		t.Run(prefixName(ap), func(t *testing.T) {
			e := newAPIEnv(t)
			r := e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "create run")
			run := str(r, "run", "info", "run_id")
			uri := str(r, "run", "info", "artifact_uri")
			root := "0/" + run + "/artifacts"
			if uri != "mlflow-artifacts:/"+root {
				t.Fatalf("artifact_uri %q", uri)
			}

			blob := make([]byte, 3*256+17)
			for i := range blob {
				blob[i] = byte(i * 7)
			}
			e.ok(e.do("PUT", ap+"/"+root+"/dir/blob.bin", blob), "put blob")
			e.ok(e.do("PUT", ap+"/"+root+"/text.txt", []byte("hello\r\n\x00world")), "put text")
			e.ok(e.do("PUT", ap+"/"+root+"/a%20b.html", []byte("<script>alert(1)</script>")), "put html")
			// The path is decoded once: "100%2525.txt" names "100%25.txt".
			e.ok(e.do("PUT", ap+"/"+root+"/100%2525.txt", []byte("pct")), "put pct")

			g := e.do("GET", ap+"/"+root+"/dir/blob.bin", nil)
			if g.Status != 200 || !bytes.Equal(g.Body, blob) {
				t.Fatalf("GET blob: status %d, %d bytes, equal=%v", g.Status, len(g.Body), bytes.Equal(g.Body, blob))
			}
			if ct := g.Header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("blob Content-Type %q", ct)
			}
			if cl := g.Header.Get("Content-Length"); cl != fmt.Sprint(len(blob)) {
				t.Errorf("blob Content-Length %q", cl)
			}
			if g := e.do("GET", ap+"/"+root+"/text.txt", nil); g.Status != 200 || string(g.Body) != "hello\r\n\x00world" {
				t.Errorf("GET text: %s", g)
			}
			if g := e.do("GET", ap+"/"+root+"/100%2525.txt", nil); g.Status != 200 || string(g.Body) != "pct" {
				t.Errorf("GET 100%%25.txt: %s", g)
			}
			if _, err := os.Stat(filepath.Join(e.artRoot, filepath.FromSlash(root), "100%25.txt")); err != nil {
				t.Errorf("100%%25.txt not stored under its once-decoded name: %v", err)
			}
			e.ok(e.do("DELETE", ap+"/"+root+"/100%2525.txt", nil), "delete pct")
			h := e.do("GET", ap+"/"+root+"/a%20b.html", nil)
			if h.Status != 200 || h.Header.Get("Content-Type") == "text/html" || h.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("html served unsafely: %d %v", h.Status, h.Header)
			}
			hd := e.do("HEAD", ap+"/"+root+"/dir/blob.bin", nil)
			if hd.Status != 200 || len(hd.Body) != 0 || hd.Header.Get("Content-Length") != fmt.Sprint(len(blob)) {
				t.Errorf("HEAD blob: %s %v", hd, hd.Header)
			}
			wantError(t, e.do("GET", ap+"/"+root+"/missing.bin", nil), 404, "RESOURCE_DOES_NOT_EXIST", "GET missing")

			// list through the proxy: base names, ?path=
			l := e.ok(e.get(ap, url.Values{"path": {root}}), "proxy list")
			got := map[string]string{}
			for _, f := range list(l, "files") {
				got[str(f, "path")] = fmt.Sprint(field(f, "is_dir"), field(f, "file_size"))
			}
			want := map[string]string{"dir": "true <nil>", "text.txt": "false 13", "a b.html": "false 25"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("proxy list = %v, want %v", got, want)
			}
			l = e.ok(e.get(ap+"/", url.Values{"path": {root + "/dir"}}), "proxy list dir")
			if fl := list(l, "files"); len(fl) != 1 || str(fl[0], "path") != "blob.bin" || field(fl[0], "file_size") != float64(len(blob)) {
				t.Errorf("proxy list dir = %v", l)
			}
			l = e.ok(e.get(ap, url.Values{"path": {"0/nonexistent"}}), "proxy list missing dir")
			if len(list(l, "files")) != 0 {
				t.Errorf("listing a missing dir: %v", l)
			}

			// artifacts/list through the run: paths relative to the run root
			for _, tp := range apiPrefixes {
				al := e.ok(e.get(tp+"artifacts/list", url.Values{"run_id": {run}}), "artifacts/list")
				if str(al, "root_uri") != uri {
					t.Errorf("root_uri = %q, want %q", str(al, "root_uri"), uri)
				}
				got = map[string]string{}
				for _, f := range list(al, "files") {
					got[str(f, "path")] = fmt.Sprint(field(f, "is_dir"), field(f, "file_size"))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("artifacts/list = %v, want %v", got, want)
				}
				al = e.ok(e.get(tp+"artifacts/list", url.Values{"run_uuid": {run}, "path": {"dir"}}), "artifacts/list dir")
				if fl := list(al, "files"); len(fl) != 1 || str(fl[0], "path") != "dir/blob.bin" || field(fl[0], "is_dir") != false {
					t.Errorf("artifacts/list dir = %v", al)
				}
				al = e.ok(e.get(tp+"artifacts/list", url.Values{"run_id": {run}, "path": {"nothing/here"}}), "artifacts/list missing")
				if len(list(al, "files")) != 0 {
					t.Errorf("artifacts/list missing = %v", al)
				}
			}

			// overwrite, delete (idempotent, recursive)
			e.ok(e.do("PUT", ap+"/"+root+"/dir/blob.bin", []byte("v2")), "overwrite")
			if g := e.do("GET", ap+"/"+root+"/dir/blob.bin", nil); string(g.Body) != "v2" {
				t.Errorf("after overwrite: %s", g)
			}
			e.ok(e.do("DELETE", ap+"/"+root+"/text.txt", nil), "delete file")
			wantError(t, e.do("GET", ap+"/"+root+"/text.txt", nil), 404, "RESOURCE_DOES_NOT_EXIST", "GET deleted")
			e.ok(e.do("DELETE", ap+"/"+root+"/text.txt", nil), "delete again")
			e.ok(e.do("DELETE", ap+"/"+root+"/dir", nil), "delete dir")
			wantError(t, e.do("GET", ap+"/"+root+"/dir/blob.bin", nil), 404, "RESOURCE_DOES_NOT_EXIST", "GET under deleted dir")
			l = e.ok(e.get(ap, url.Values{"path": {root}}), "list after delete")
			if fl := list(l, "files"); len(fl) != 1 || str(fl[0], "path") != "a b.html" {
				t.Errorf("after deletes: %v", l)
			}
			// Nothing but what was uploaded is on disk.
			var onDisk []string
			filepath.Walk(e.artRoot, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					rel, _ := filepath.Rel(e.artRoot, p)
					onDisk = append(onDisk, filepath.ToSlash(rel))
				}
				return nil
			})
			if len(onDisk) != 1 || onDisk[0] != root+"/a b.html" {
				t.Errorf("files on disk: %v", onDisk)
			}
		})
	}
}

func TestArtifactUploadTooLarge(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) { s.MaxArtifactBytes = 1000 })
	ap := artifactPrefixes[0]
	e.ok(e.do("PUT", ap+"/0/small.bin", bytes.Repeat([]byte("a"), 1000)), "put at the limit")
	wantError(t, e.do("PUT", ap+"/0/big.bin", bytes.Repeat([]byte("b"), 1001)), 413, "REQUEST_LIMIT_EXCEEDED", "oversized artifact")
	// An oversized overwrite leaves the old content.
	r := e.do("PUT", ap+"/0/small.bin", bytes.Repeat([]byte("c"), 5000))
	if r.Status != 413 {
		t.Errorf("oversized overwrite: %s", r)
	}
	if g := e.do("GET", ap+"/0/small.bin", nil); !bytes.Equal(g.Body, bytes.Repeat([]byte("a"), 1000)) {
		t.Errorf("old content changed by a refused overwrite")
	}
	ents, _ := os.ReadDir(filepath.Join(e.artRoot, "0"))
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	if len(names) != 1 || names[0] != "small.bin" {
		t.Errorf("files left after refused uploads: %v", names)
	}
}

func TestArtifactProxyDisabled(t *testing.T) {
	e := newAPIEnv(t, func(s *mlflowapi.Server) { s.Artifacts = nil })
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		r := e.do(m, artifactPrefixes[0]+"/0/x.txt", []byte("x"))
		wantError(t, r, 404, "ENDPOINT_NOT_FOUND", m+" on a disabled proxy")
	}
	run := str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "create run"), "run", "info", "run_id")
	r := e.get("/api/2.0/mlflow/artifacts/list", url.Values{"run_id": {run}})
	if r.Status < 400 || r.Status >= 500 {
		t.Errorf("artifacts/list with the proxy off: %s", r)
	}
}

// TestRunArtifactURIUnderLocationWithTrailingSlash: an experiment whose
// artifact_location ends in "/" must still give its runs and models artifact
// URIs with a single "/" between the location and the id, as MLflow's
// append_to_uri_path does. "mlflow-artifacts:/" + "/" + id would name a
// host ("mlflow-artifacts://<run id>/artifacts"), which ValidateLocation
// forbids, and which the client would contact as a server; "s3://b/" would
// give keys starting with "/".
func TestRunArtifactURIUnderLocationWithTrailingSlash(t *testing.T) {
	e := newAPIEnv(t)
	for _, loc := range []string{"mlflow-artifacts:/", "mlflow-artifacts:/team/", "s3://bucket/", "s3://bucket/prefix/"} {
		r := e.do("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "exp " + loc, "artifact_location": loc})
		if r.Status != 200 {
			// Refusing the location outright is also acceptable.
			wantError(t, r, 400, "INVALID_PARAMETER_VALUE", "location "+loc)
			continue
		}
		exp := str(r.JSON, "experiment_id")
		run := e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp}), "create run")
		id := str(run, "run", "info", "run_id")
		uri := str(run, "run", "info", "artifact_uri")
		if want := loc + id + "/artifacts"; uri != want {
			t.Errorf("location %q: run artifact_uri = %q, want %q", loc, uri, want)
		}
		m := e.ok(e.do("POST", "/api/2.0/mlflow/logged-models", map[string]any{"experiment_id": exp, "name": "m"}), "create model")
		mid := str(m, "model", "info", "model_id")
		if want := loc + "models/" + mid + "/artifacts"; str(m, "model", "info", "artifact_uri") != want {
			t.Errorf("location %q: model artifact_uri = %q, want %q", loc, str(m, "model", "info", "artifact_uri"), want)
		}
	}
	// Two runs of an experiment at "mlflow-artifacts:/" must not share
	// their artifact directory.
	r := e.do("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "shared root", "artifact_location": "mlflow-artifacts:/"})
	if r.Status != 200 {
		return
	}
	exp := str(r.JSON, "experiment_id")
	var runs []string
	for i := 0; i < 2; i++ {
		runs = append(runs, str(e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp}), "run"), "run", "info", "run_id"))
	}
	e.ok(e.do("PUT", artifactPrefixes[0]+"/"+runs[0]+"/artifacts/only-run-0.txt", []byte("0")), "put")
	e.ok(e.do("PUT", artifactPrefixes[0]+"/artifacts/in-no-run.txt", []byte("0")), "put")
	al := e.ok(e.get("/api/2.0/mlflow/artifacts/list", url.Values{"run_id": {runs[0]}}), "list run 0")
	if fl := list(al, "files"); len(fl) != 1 || str(fl[0], "path") != "only-run-0.txt" {
		t.Errorf("run 0 under \"mlflow-artifacts:/\" lists %v, want only-run-0.txt", al)
	}
	al = e.ok(e.get("/api/2.0/mlflow/artifacts/list", url.Values{"run_id": {runs[1]}}), "list run 1")
	if fl := list(al, "files"); len(fl) != 0 {
		t.Errorf("run 1 under \"mlflow-artifacts:/\" lists files that are not its own: %v", al)
	}
}

// TestLogModelHistory: MLflow 2.x clients record logged models with
// runs/log-model, which appends to the mlflow.log-model.history tag.
func TestLogModelHistory(t *testing.T) {
	e := newAPIEnv(t)
	created := e.ok(e.do("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"}), "create run")
	run := str(created, "run", "info", "run_id")
	model := func(path string) string {
		return `{"artifact_path": "` + path + `", "run_id": "` + run + `", "utc_time_created": "2026-01-01 00:00:00.000000",
			"flavors": {"python_function": {"loader_module": "mlflow.sklearn", "config": {"x": 1}}}, "signature": {"inputs": "[]"}}`
	}
	for _, p := range []string{"model", "model2"} {
		e.ok(e.do("POST", "/api/2.0/mlflow/runs/log-model", map[string]any{"run_id": run, "model_json": model(p)}), "log-model "+p)
	}
	got := e.ok(e.get("/api/2.0/mlflow/runs/get", url.Values{"run_id": {run}}), "get run")
	history := kv(list(got, "run", "data", "tags"))["mlflow.log-model.history"]
	var entries []map[string]any
	if err := json.Unmarshal([]byte(history), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("history = %q (%v)", history, err)
	}
	if entries[1]["artifact_path"] != "model2" || entries[0]["signature"] != nil {
		t.Errorf("history entries = %v", entries)
	}
	if fl := entries[0]["flavors"].(map[string]any)["python_function"].(map[string]any); fl["config"] != nil || fl["loader_module"] != "mlflow.sklearn" {
		t.Errorf("flavor kept config or lost fields: %v", fl)
	}
	wantError(t, e.do("POST", "/api/2.0/mlflow/runs/log-model", map[string]any{"run_id": run, "model_json": "{not json"}), 400, "INVALID_PARAMETER_VALUE", "log-model bad JSON")
	wantError(t, e.do("POST", "/api/2.0/mlflow/runs/log-model", map[string]any{"run_id": run, "model_json": `{"flavors": {}}`}), 400, "INVALID_PARAMETER_VALUE", "log-model missing fields")
}
