package tune

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/lode-ml/lode"
	"go.yaml.in/yaml/v3"
)

func f(v float64) *float64 { return &v }

const studyYAML = `
space:
  - {name: lr, type: float, low: 1.0e-5, high: 0.1, log: true}
  - {name: layers, type: int, low: 1, high: 4}
  - {name: units, type: int, low: 16, high: 256, log: true}
  - {name: dropout, type: float, low: 0, high: 0.5, step: 0.1}
  - {name: optimizer, type: categorical, values: [sgd, adam, 3, 0.5, true, null]}
  - {name: momentum, type: float, low: 0, high: 0.99, when: {param: optimizer, values: [sgd]}}
  - {name: nesterov, type: categorical, values: [true, false], when: {param: optimizer, values: [sgd]}}
  - {name: beta1, type: float, low: 0.8, high: 0.999, when: {param: optimizer, values: [adam, 3]}}
`

func yamlSpace(t *testing.T) *Space {
	t.Helper()
	var file struct {
		Space []ParamSpec `yaml:"space"`
	}
	if err := yaml.Unmarshal([]byte(studyYAML), &file); err != nil {
		t.Fatal(err)
	}
	s, err := NewSpace(file.Space)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpaceFromYAML(t *testing.T) {
	s := yamlSpace(t)
	opt, _ := s.Param("optimizer")
	want := []any{"sgd", "adam", int64(3), 0.5, true, nil}
	if !reflect.DeepEqual(opt.Choices, want) {
		t.Fatalf("choices %#v, want %#v", opt.Choices, want)
	}
	lr, _ := s.Param("lr")
	if lr.Kind != Float || lr.Low != 1e-5 || lr.High != 0.1 || !lr.Log || lr.Step != 0 {
		t.Fatalf("lr %+v", lr)
	}
	layers, _ := s.Param("layers")
	if layers.Kind != Int || layers.Step != 1 {
		t.Fatalf("layers %+v", layers)
	}
	// The space survives JSON, numbers in choices keeping their kind.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Space
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Params(), s.Params()) {
		t.Fatalf("after JSON:\n%+v\nwant\n%+v", back.Params(), s.Params())
	}
}

func TestSpaceErrors(t *testing.T) {
	lo, hi := f(0), f(1)
	cases := []struct {
		specs []ParamSpec
		want  string
	}{
		{nil, "no parameters"},
		{[]ParamSpec{{Name: "", Type: Float, Low: lo, High: hi}}, "parameter name"},
		{[]ParamSpec{{Name: "a b", Type: Float, Low: lo, High: hi}}, "parameter name"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi}, {Name: "x", Type: Float, Low: lo, High: hi}}, "declared twice"},
		{[]ParamSpec{{Name: "x", Type: "double", Low: lo, High: hi}}, `type must be float, int or categorical, not "double"`},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo}}, "needs low and high"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: hi, High: lo}}, "low 1 is above high 0"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi, Log: true}}, "log parameter needs low > 0"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: f(0.1), High: hi, Log: true, Step: f(0.1)}}, "both log and stepped"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi, Step: f(0.3)}}, "not low 0 plus a whole number of steps 0.3"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi, Step: f(-1)}}, "step must be a positive number"},
		{[]ParamSpec{{Name: "x", Type: Int, Low: f(0.5), High: hi}}, "whole low, high and step"},
		{[]ParamSpec{{Name: "x", Type: Int, Low: f(1), High: f(9), Log: true, Step: f(2)}}, "log int parameter cannot have a step"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi, Values: []any{1}}}, "values are for categorical"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi, Grid: []float64{2}}}, "grid value 2 is not in the parameter's range"},
		{[]ParamSpec{{Name: "x", Type: Int, Low: lo, High: f(5), Grid: []float64{1.5}}}, "grid value 1.5"},
		{[]ParamSpec{{Name: "x", Type: Categorical}}, "at least one value"},
		{[]ParamSpec{{Name: "x", Type: Categorical, Values: []any{"a", "a"}}}, `value a is listed twice`},
		{[]ParamSpec{{Name: "x", Type: Categorical, Values: []any{1, 1.0}}}, `value 1 is listed twice`},
		{[]ParamSpec{{Name: "x", Type: Categorical, Values: []any{[]int{1}}}}, "is not a string, number, boolean or null"},
		{[]ParamSpec{{Name: "x", Type: Categorical, Values: []any{"a"}, Low: lo}}, "takes values only"},
		{[]ParamSpec{{Name: "x", Type: Float, Low: lo, High: hi, When: &Condition{Param: "opt", Values: []any{"a"}}}}, `names "opt", which is not a parameter declared before it`},
		{[]ParamSpec{{Name: "y", Type: Float, Low: lo, High: hi}, {Name: "x", Type: Float, Low: lo, High: hi, When: &Condition{Param: "y", Values: []any{1}}}}, `parent "y" is not categorical`},
		{[]ParamSpec{{Name: "o", Type: Categorical, Values: []any{"a"}}, {Name: "x", Type: Float, Low: lo, High: hi, When: &Condition{Param: "o", Values: []any{"b"}}}}, `value b is not a choice of "o"`},
		{[]ParamSpec{{Name: "o", Type: Categorical, Values: []any{"a"}}, {Name: "x", Type: Float, Low: lo, High: hi, When: &Condition{Param: "o"}}}, `lists no values of "o"`},
	}
	for _, c := range cases {
		_, err := NewSpace(c.specs)
		if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(lode.ErrorMessage(err), c.want) {
			t.Errorf("NewSpace(%+v): %v, want EInvalid containing %q", c.specs, err, c.want)
		}
	}
}

func TestCheckParams(t *testing.T) {
	s := yamlSpace(t)
	base := map[string]any{"lr": 0.01, "layers": 2.0, "units": 32, "dropout": 0.2}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	p, err := s.Check(with(map[string]any{"optimizer": "sgd", "momentum": 0.9, "nesterov": true}))
	if err != nil {
		t.Fatal(err)
	}
	if p["layers"] != int64(2) || p["units"] != int64(32) || p["momentum"] != 0.9 {
		t.Fatalf("normalized %#v", p)
	}
	if _, err := s.Check(with(map[string]any{"optimizer": 3.0, "beta1": 0.9})); err != nil {
		t.Fatalf("numeric choice 3.0 for 3: %v", err)
	}
	bad := []struct {
		extra map[string]any
		want  string
	}{
		{map[string]any{"optimizer": "sgd", "momentum": 0.9}, `"nesterov" is missing`},
		{map[string]any{"optimizer": "adam", "beta1": 0.9, "momentum": 0.9}, `"momentum" is given but inactive`},
		{map[string]any{"optimizer": "rmsprop"}, "rmsprop is not one of the parameter's values"},
		{map[string]any{"optimizer": nil, "lr": 2.0}, "outside the parameter's range"},
		{map[string]any{"optimizer": nil, "dropout": 0.25}, "outside the parameter's range"},
		{map[string]any{"optimizer": nil, "layers": "two"}, "two is not a number"},
		{map[string]any{"optimizer": nil, "extra": 1}, `"extra" is not a parameter`},
	}
	for _, c := range bad {
		_, err := s.Check(with(c.extra))
		if lode.ErrorCode(err) != lode.EInvalid || !strings.Contains(lode.ErrorMessage(err), c.want) {
			t.Errorf("Check(%v): %v, want %q", c.extra, err, c.want)
		}
	}
}

func TestOptunaDistributions(t *testing.T) {
	cases := []struct {
		json string
		want Distribution
		out  string // "" when it encodes back to json
	}{
		{`{"name": "FloatDistribution", "attributes": {"low": 0.001, "high": 0.1, "step": null, "log": true}}`,
			Distribution{Kind: Float, Low: 0.001, High: 0.1, Log: true}, ""},
		{`{"name": "FloatDistribution", "attributes": {"low": 0.0, "high": 1.0, "step": 0.25, "log": false}}`,
			Distribution{Kind: Float, Low: 0, High: 1, Step: 0.25}, `{"name":"FloatDistribution","attributes":{"low":0,"high":1,"step":0.25,"log":false}}`},
		{`{"name": "IntDistribution", "attributes": {"log": false, "step": 2, "low": 0, "high": 10}}`,
			Distribution{Kind: Int, Low: 0, High: 10, Step: 2}, `{"name":"IntDistribution","attributes":{"low":0,"high":10,"log":false,"step":2}}`},
		{`{"name": "CategoricalDistribution", "attributes": {"choices": ["a", 1, 2.5, true, null]}}`,
			Distribution{Kind: Categorical, Choices: []any{"a", int64(1), 2.5, true, nil}}, `{"name":"CategoricalDistribution","attributes":{"choices":["a",1,2.5,true,null]}}`},
		{`{"name": "UniformDistribution", "attributes": {"low": -1, "high": 1}}`, Distribution{Kind: Float, Low: -1, High: 1},
			`{"name":"FloatDistribution","attributes":{"low":-1,"high":1,"step":null,"log":false}}`},
		{`{"name": "LogUniformDistribution", "attributes": {"low": 1e-3, "high": 1}}`, Distribution{Kind: Float, Low: 1e-3, High: 1, Log: true},
			`{"name":"FloatDistribution","attributes":{"low":0.001,"high":1,"step":null,"log":true}}`},
		{`{"name": "DiscreteUniformDistribution", "attributes": {"low": 0, "high": 1, "q": 0.5}}`, Distribution{Kind: Float, Low: 0, High: 1, Step: 0.5},
			`{"name":"FloatDistribution","attributes":{"low":0,"high":1,"step":0.5,"log":false}}`},
		{`{"name": "IntUniformDistribution", "attributes": {"low": 1, "high": 9, "step": 2}}`, Distribution{Kind: Int, Low: 1, High: 9, Step: 2},
			`{"name":"IntDistribution","attributes":{"low":1,"high":9,"log":false,"step":2}}`},
		{`{"name": "IntLogUniformDistribution", "attributes": {"low": 1, "high": 1024, "step": 1}}`, Distribution{Kind: Int, Low: 1, High: 1024, Step: 1, Log: true},
			`{"name":"IntDistribution","attributes":{"low":1,"high":1024,"log":true,"step":1}}`},
		{`{"type": "int", "low": 1, "high": 3}`, Distribution{Kind: Int, Low: 1, High: 3, Step: 1},
			`{"name":"IntDistribution","attributes":{"low":1,"high":3,"log":false,"step":1}}`},
	}
	for _, c := range cases {
		d, err := ParseOptunaDistribution([]byte(c.json))
		if err != nil {
			t.Errorf("%s: %v", c.json, err)
			continue
		}
		if !reflect.DeepEqual(d, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.json, d, c.want)
		}
		out, err := d.OptunaJSON()
		if err != nil {
			t.Fatal(err)
		}
		want := c.out
		if want == "" {
			var v any
			json.Unmarshal([]byte(c.json), &v)
			b, _ := json.Marshal(v)
			// Go sorts the keys; compare as values instead.
			var got any
			json.Unmarshal(out, &got)
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s encodes as %s (%s)", c.json, out, b)
			}
			continue
		}
		if string(out) != want {
			t.Errorf("%s encodes as %s, want %s", c.json, out, want)
		}
	}
	for _, bad := range []string{`{"name": "NormalDistribution", "attributes": {}}`, `{"name": "FloatDistribution", "attributes": {"low": 1}}`,
		`{"name": "IntDistribution", "attributes": {"low": 0, "high": 1.5}}`, `[]`, `{"type": "x"}`,
		`{"name": "CategoricalDistribution", "attributes": {"choices": [[1]]}}`} {
		if _, err := ParseOptunaDistribution([]byte(bad)); lode.ErrorCode(err) != lode.EInvalid {
			t.Errorf("%s: %v, want EInvalid", bad, err)
		}
	}
	// Internal representation: the number, or the choice's index.
	d := Distribution{Kind: Categorical, Choices: []any{"a", int64(1), 2.5}}
	if x, err := d.ToInternal(1.0); err != nil || x != 1 || d.ToExternal(2) != 2.5 {
		t.Fatalf("ToInternal(1.0) = %v, %v", x, err)
	}
	if x, err := (Distribution{Kind: Int, Low: 0, High: 10, Step: 2}).ToInternal(int64(4)); err != nil || x != 4 {
		t.Fatalf("int ToInternal: %v %v", x, err)
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[any]string{nil: "", "a": "a", true: "true", int64(-3): "-3", 0.1: "0.1", 1e-5: "1e-05", 2.0: "2"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%#v) = %q, want %q", v, got, want)
		}
	}
}
