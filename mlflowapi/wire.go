package mlflowapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/lode-ml/lode/tracking"
)

// MLflow's JSON is protobuf's JSON mapping: int64 may arrive as a number or
// a string, doubles may be "NaN" or "Infinity", ids may be numbers, and GET
// query strings carry everything as strings. These types accept all forms.

// jint is an int64 that accepts a JSON number or a numeric string.
type jint struct {
	V   int64
	Set bool
	raw []byte // as sent, for messages that quote it
}

// typeError is the decoder's error for a JSON value b that does not fit
// t; the decoder adds where it was, which wrongType reads.
func typeError(b []byte, t reflect.Type) error {
	kind := "number"
	switch b = bytes.TrimSpace(b); {
	case len(b) == 0:
	case b[0] == '"':
		kind = "string"
	case b[0] == '[':
		kind = "array"
	case b[0] == '{':
		kind = "object"
	case b[0] == 't' || b[0] == 'f':
		kind = "bool"
	}
	return &json.UnmarshalTypeError{Value: kind, Type: t}
}

func (j *jint) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return typeError(b, reflect.TypeFor[int64]())
		}
		v = int64(f)
	}
	j.V, j.Set, j.raw = v, true, bytes.Clone(b)
	return nil
}

func (j jint) ptr() *int64 {
	if !j.Set {
		return nil
	}
	v := j.V
	return &v
}

// jfloat is a double in protobuf's JSON form.
type jfloat struct {
	V   float64
	Set bool
}

func (j *jfloat) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	switch s {
	case "NaN", "nan":
		j.V = math.NaN()
	case "Infinity", "inf", "Inf":
		j.V = math.Inf(1)
	case "-Infinity", "-inf", "-Inf":
		j.V = math.Inf(-1)
	default:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return typeError(b, reflect.TypeFor[float64]())
		}
		j.V = v
	}
	j.Set = true
	return nil
}

// wfloat writes a double as protobuf's JSON does.
type wfloat float64

func (f wfloat) MarshalJSON() ([]byte, error) {
	return f.appendJSON(nil), nil
}

func (f wfloat) appendJSON(b []byte) []byte {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// jstr is a string that also accepts a JSON number (ids sent as ints).
type jstr string

func (j *jstr) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*j = jstr(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return typeError(b, reflect.TypeFor[string]())
	}
	*j = jstr(n.String())
	return nil
}

// jstrs is a repeated string that also accepts a single string.
type jstrs []string

func (j *jstrs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var items []jstr
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = string(it)
		}
		*j = out
		return nil
	}
	var s jstr
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*j = []string{string(s)}
	return nil
}

// Wire forms of MLflow's entities (protobuf JSON, snake_case names).

type wTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wMetric struct {
	Key           string `json:"key"`
	Value         wfloat `json:"value"`
	Timestamp     int64  `json:"timestamp"`
	Step          int64  `json:"step"`
	RunID         string `json:"run_id,omitempty"`
	ModelID       string `json:"model_id,omitempty"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
}

type rMetric struct {
	Key           string `json:"key"`
	Value         jfloat `json:"value"`
	Timestamp     jint   `json:"timestamp"`
	Step          jint   `json:"step"`
	ModelID       string `json:"model_id"`
	DatasetName   string `json:"dataset_name"`
	DatasetDigest string `json:"dataset_digest"`
}

func (m rMetric) metric() tracking.Metric {
	return tracking.Metric{Key: m.Key, Value: m.Value.V, Timestamp: m.Timestamp.V, Step: m.Step.V,
		ModelID: m.ModelID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest}
}

func tagsIn(ts []wTag) []tracking.Tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]tracking.Tag, len(ts))
	for i, t := range ts {
		out[i] = tracking.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func paramsIn(ts []wTag) []tracking.Param {
	if len(ts) == 0 {
		return nil
	}
	out := make([]tracking.Param, len(ts))
	for i, t := range ts {
		out[i] = tracking.Param{Key: t.Key, Value: t.Value}
	}
	return out
}

func tagsOut(ts []tracking.Tag) []wTag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]wTag, len(ts))
	for i, t := range ts {
		out[i] = wTag{t.Key, t.Value}
	}
	return out
}

func paramsOut(ps []tracking.Param) []wTag {
	if len(ps) == 0 {
		return nil
	}
	out := make([]wTag, len(ps))
	for i, p := range ps {
		out[i] = wTag{p.Key, p.Value}
	}
	return out
}

func metricOut(m tracking.Metric) wMetric {
	return wMetric{Key: m.Key, Value: wfloat(m.Value), Timestamp: m.Timestamp, Step: m.Step,
		RunID: m.RunID, ModelID: m.ModelID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest}
}

func metricsOut(ms []tracking.Metric) []wMetric {
	out := make([]wMetric, len(ms))
	for i, m := range ms {
		out[i] = metricOut(m)
	}
	return out
}

type wExperiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	LifecycleStage   string `json:"lifecycle_stage"`
	LastUpdateTime   int64  `json:"last_update_time"`
	CreationTime     int64  `json:"creation_time"`
	Tags             []wTag `json:"tags,omitempty"`
}

func experimentOut(e *tracking.Experiment) wExperiment {
	return wExperiment{e.ID, e.Name, e.ArtifactLocation, e.LifecycleStage, e.LastUpdateTime, e.CreationTime, tagsOut(e.Tags)}
}

type wRunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

func runInfoOut(ri *tracking.RunInfo) wRunInfo {
	return wRunInfo{ri.RunID, ri.RunID, ri.RunName, ri.ExperimentID, ri.UserID, ri.Status, ri.StartTime, ri.EndTime, ri.ArtifactURI, ri.LifecycleStage}
}

type wDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type wDatasetInput struct {
	Tags    []wTag   `json:"tags,omitempty"`
	Dataset wDataset `json:"dataset"`
}

type wModelRef struct {
	ModelID string `json:"model_id"`
}

type wModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

type wRunData struct {
	Metrics []wMetric `json:"metrics,omitempty"`
	Params  []wTag    `json:"params,omitempty"`
	Tags    []wTag    `json:"tags,omitempty"`
}

type wRunInputs struct {
	DatasetInputs []wDatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []wModelRef     `json:"model_inputs,omitempty"`
}

type wRunOutputs struct {
	ModelOutputs []wModelOutput `json:"model_outputs,omitempty"`
}

type wRun struct {
	Info    wRunInfo     `json:"info"`
	Data    wRunData     `json:"data"`
	Inputs  wRunInputs   `json:"inputs"`
	Outputs *wRunOutputs `json:"outputs,omitempty"`
}

func runOut(r *tracking.Run) wRun {
	out := wRun{Info: runInfoOut(&r.Info)}
	if len(r.Metrics) > 0 {
		out.Data.Metrics = make([]wMetric, len(r.Metrics))
		for i, m := range r.Metrics {
			out.Data.Metrics[i] = wMetric{Key: m.Key, Value: wfloat(m.Value), Timestamp: m.Timestamp, Step: m.Step}
		}
	}
	out.Data.Params = paramsOut(r.Params)
	out.Data.Tags = tagsOut(r.Tags)
	for _, in := range r.Inputs {
		d := in.Dataset
		out.Inputs.DatasetInputs = append(out.Inputs.DatasetInputs, wDatasetInput{
			Tags:    tagsOut(in.Tags),
			Dataset: wDataset{d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile},
		})
	}
	for _, m := range r.ModelInputs {
		out.Inputs.ModelInputs = append(out.Inputs.ModelInputs, wModelRef{m.ModelID})
	}
	if len(r.ModelOutputs) > 0 {
		out.Outputs = &wRunOutputs{}
		for _, m := range r.ModelOutputs {
			out.Outputs.ModelOutputs = append(out.Outputs.ModelOutputs, wModelOutput{m.ModelID, m.Step})
		}
	}
	return out
}

func runsOut(rs []*tracking.Run) []wRun {
	out := make([]wRun, len(rs))
	for i, r := range rs {
		out[i] = runOut(r)
	}
	return out
}

// viewType parses MLflow's ViewType enum, given by name or number.
func viewType(s string) (tracking.ViewType, error) {
	switch s {
	case "", "ACTIVE_ONLY", "1":
		return tracking.ActiveOnly, nil
	case "DELETED_ONLY", "2":
		return tracking.DeletedOnly, nil
	case "ALL", "3":
		return tracking.AllViews, nil
	}
	return 0, fmt.Errorf("invalid view type %q", s)
}
