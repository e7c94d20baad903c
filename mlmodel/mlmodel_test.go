package mlmodel

import (
	"reflect"
	"strings"
	"testing"
)

const sklearnMLmodel = `artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.9.1
mlflow_version: 3.17.2
model_id: m-0123
model_uuid: 4c1f
run_id: abc
signature:
  inputs: '[{"type": "float", "name": "f0", "required": true}, {"type": "double", "name": "f1", "required": true}, {"type": "long", "name": "n", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
  params: null
utc_time_created: '2026-11-25 23:00:00.000000'
`

func TestParseSklearnModel(t *testing.T) {
	m, err := Parse(strings.NewReader(sklearnMLmodel))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.FlavorNames(); !reflect.DeepEqual(got, []string{"python_function", "sklearn"}) {
		t.Errorf("flavors = %v", got)
	}
	in, ok := m.Inputs()
	if !ok || in.Columns != 3 || !reflect.DeepEqual(in.Types, []string{"float", "int"}) {
		t.Errorf("inputs = %+v, %v", in, ok)
	}
	out, ok := m.Outputs()
	if !ok || out.Columns != 1 || !reflect.DeepEqual(out.Types, []string{"float"}) {
		t.Errorf("outputs = %+v, %v", out, ok)
	}
	if m.RunID != "abc" || m.ModelID != "m-0123" || m.ArtifactPath != "model" {
		t.Errorf("model = %+v", m)
	}
}

func TestTensorSignatureColumns(t *testing.T) {
	m, err := Parse(strings.NewReader("flavors: {onnx: {}}\nsignature:\n  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1, 11]}}]'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := m.Inputs(); !ok || in.Columns != 11 || in.Types[0] != "float" {
		t.Errorf("inputs = %+v", in)
	}
	if _, ok := m.Outputs(); ok {
		t.Error("outputs reported without a signature")
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "flavors: {}", "not: [valid", strings.Repeat("a", MaxSize+10)} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%.20q) accepted", bad)
		}
	}
}
