package inferapi

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lode-ml/lode/serving"
)

func TestParseJSON(t *testing.T) {
	v, err := parseJSON([]byte(` {"a": [1, 2.5, null], "b": [[1, 2], [3, 4]], "c": [1, "x"], "d": "\u00e9\ud83d\ude00\n", "e": [], "a": true} `))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*object)
	if len(o.keys) != 5 || o.keys[0] != "a" || o.vals[0] != true {
		t.Errorf("duplicate key handling: %v %v", o.keys, o.vals)
	}
	b := o.vals[1].(*packed)
	if b.kind != kInt || !sameShape(b.shape, []int64{2, 2}) || b.ints[3] != 4 {
		t.Errorf("b = %+v", b)
	}
	if c, ok := o.vals[2].([]any); !ok || c[0] != int64(1) || c[1] != "x" {
		t.Errorf("c = %#v", o.vals[2])
	}
	if o.vals[3] != "é😀\n" {
		t.Errorf("d = %q", o.vals[3])
	}
	if e := o.vals[4].(*packed); e.len() != 0 || !sameShape(e.shape, []int64{0}) {
		t.Errorf("e = %+v", e)
	}
	// Mixed integers and floats remember which were integers.
	p := mustParse(t, `[[1, 2.5], [9007199254740993, -4]]`).(*packed)
	for i, want := range []any{int64(1), 2.5, int64(9007199254740993), int64(-4)} {
		if got := p.at(i); got != want {
			t.Errorf("element %d = %#v, want %#v", i, got, want)
		}
	}
	// Nesting is bounded.
	if _, err := parseJSON([]byte(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1))); err == nil {
		t.Error("no error for deep nesting")
	}
	for _, bad := range []string{``, `[1,]`, `{"a" 1}`, `[1 2]`, `"\x01"`, `01`, `1.`, `-`, `tru`, `"\ud800"x`, `[1]x`, `{"a":1,}`, `NaNa`} {
		if _, err := parseJSON([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func mustParse(t *testing.T, s string) any {
	t.Helper()
	v, err := parseJSON([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// FuzzParseJSON checks the parser against encoding/json: it accepts what
// JSON allows (within the depth bound), keeps the values, and never panics.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`[1, 2.5, null]`, `{"a": [[1], [2, 3]]}`, `"\ud83d\ude00"`, `[true, "x"]`, `[[[]], [[]]]`, `-0.0e+1`, `[NaN, -Infinity]`, `[1e400]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b)
		var std any
		stdErr := json.Unmarshal(b, &std)
		if stdErr == nil && err == nil {
			// Marshal and read back: invalid UTF-8, kept by the parser,
			// then reads as encoding/json reads it.
			a, _ := json.Marshal(plainForCompare(v))
			var back any
			json.Unmarshal(a, &back)
			a, _ = json.Marshal(back)
			e, _ := json.Marshal(noNegZero(std))
			if string(a) != string(e) {
				t.Fatalf("%q: parsed %s, encoding/json %s", b, a, e)
			}
		}
		if stdErr == nil && err != nil && !strings.Contains(err.Error(), "nested deeper") {
			t.Fatalf("%q: valid JSON rejected: %v", b, err)
		}
	})
}

// noNegZero reads -0 as 0: the integer literal -0 is the integer 0, as in
// Python.
func noNegZero(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = noNegZero(e)
		}
	case []any:
		for i, e := range v {
			v[i] = noNegZero(e)
		}
	case float64:
		if v == 0 {
			return 0.0
		}
	}
	return v
}

// plainForCompare turns parsed values into what encoding/json decodes:
// float64 numbers, and null where a packed array read null as NaN.
func plainForCompare(v any) any {
	switch v := v.(type) {
	case *object:
		m := map[string]any{}
		for i, k := range v.keys {
			m[k] = plainForCompare(v.vals[i])
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainForCompare(e)
		}
		return out
	case *packed:
		return plainForCompare(unpack(v, 0, 0))
	case int64:
		return float64(v)
	case float64:
		if math.IsNaN(v) {
			return nil
		}
		if v == 0 {
			return 0.0
		}
	}
	return v
}

var mlflowSeeds = []string{
	`{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2.5, null]]}, "params": {"k": [1]}}`,
	`{"dataframe_split": {"data": [[1, 2], [3, 4]]}}`,
	`{"dataframe_split": {"columns": ["a"], "data": [[[1, 2]], [[3, 4]]]}}`,
	`{"dataframe_records": [{"a": 1}, {"b": true}]}`,
	`{"instances": [[1, 2], [3, 4]]}`,
	`{"instances": [{"a": [1]}, {"a": [2]}]}`,
	`{"inputs": {"a": [1], "b": "s"}}`,
	`{"inputs": 5}`,
	`[{"a": 1}]`,
	`{"columns": ["a"], "data": [[1]]}`,
	`[[1], [1, 2]]`,
}

func FuzzDecodeMLflow(f *testing.F) {
	for _, s := range mlflowSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("a,b\n1,x\n2,\n"), true)
	f.Add([]byte("a\n\"unterminated\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, csv bool) {
		ct := typeJSON
		if csv {
			ct = typeCSV
		}
		in, err := decodeMLflow(body, ct)
		if err != nil {
			return
		}
		checkInput(t, in)
	})
}

func FuzzDecodeTF(f *testing.F) {
	for _, s := range []string{`{"instances": [1.0, 2.0]}`, `{"inputs": {"a": [[1]]}}`, `{"instances": [{"b": {"b64": "aGk="}}]}`, `{"examples": [{"x": [1]}], "context": {"c": "s"}}`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, examples bool) {
		verb := "predict"
		if examples {
			verb = "classify"
		}
		req, err := decodeTF(body, verb)
		if err != nil {
			return
		}
		checkInput(t, req.in)
	})
}

func FuzzDecodeKServe(f *testing.F) {
	f.Add([]byte(`{"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [[1], [2]]}], "outputs": [{"name": "y"}]}`), -1)
	f.Add([]byte(`{"inputs": [{"name": "x", "shape": [2], "datatype": "INT8", "data": [1, -2]}]}`), -1)
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "s", "shape": []int{1}, "datatype": "BYTES", "parameters": map[string]any{"binary_data_size": 6}}}})
	n := len(body)
	f.Add(append(body, bytesElems("ab")...), n)
	body, _ = json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "f", "shape": []int{2}, "datatype": "FP64", "parameters": map[string]any{"binary_data_size": 16}}}})
	f.Add(append(body, make([]byte, 16)...), len(body))
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		hl := ""
		if headerLen >= 0 {
			hl = strconv.Itoa(headerLen)
		}
		req, err := decodeKServe(body, hl)
		if err != nil {
			return
		}
		checkInput(t, req.in)
		for i := range req.in.Tensors {
			tn := &req.in.Tensors[i]
			if serving.Elements(tn.Shape) != int64(tn.Len()) {
				t.Fatalf("tensor %s: shape %v holds %d values", tn.Name, tn.Shape, tn.Len())
			}
		}
		// Whatever decodes also encodes.
		if _, _, _, err := encodeKServe("m", "1", req, req.in.Tensors); err != nil && len(req.outputs) == 0 {
			t.Fatal(err)
		}
	})
}

// checkInput verifies what a decoder produced is well formed and encodes.
func checkInput(t *testing.T, in *serving.Input) {
	t.Helper()
	for i := range in.Tensors {
		tn := &in.Tensors[i]
		if err := checkTensor(tn); err != nil {
			t.Fatalf("decoded an invalid tensor: %v (%+v)", err, tn)
		}
		if in.Tabular && (len(tn.Shape) == 0 || tn.Shape[0] != in.Tensors[0].Shape[0]) {
			t.Fatalf("column %s has shape %v in a frame of columns of shape %v", tn.Name, tn.Shape, in.Tensors[0].Shape)
		}
	}
	out := &serving.Output{Tensors: in.Tensors, Tabular: in.Tabular}
	b, err := appendPredictions(nil, out)
	if err != nil {
		if in.Tabular {
			t.Fatalf("a decoded frame does not encode: %v", err)
		}
		return
	}
	if _, err := parseJSON(b); err != nil {
		t.Fatalf("encoded %s is not valid: %v", b, err)
	}
}
