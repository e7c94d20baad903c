package inferapi

import (
	"encoding/json"
	"fmt"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// Responses are written by hand, with serving's AppendJSON functions, so
// that tensors need no boxing and floats print the way MLflow's Python
// server prints them (see serving.AppendJSONFloat).

// checkTensor verifies that a model's output tensor is well formed.
func checkTensor(t *serving.Tensor) error {
	if err := t.Check(); err != nil {
		return lode.Errorf(lode.EInternal, "the model returned output '%s': %v", t.Name, err)
	}
	return nil
}

// appendFlat writes t's elements as one flat list.
func appendFlat(b []byte, t *serving.Tensor) []byte {
	b = append(b, '[')
	for i := range t.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		b = serving.AppendJSONElem(b, t, i)
	}
	return append(b, ']')
}

// appendRow writes row i of t, its sub-tensor along the first dimension.
func appendRow(b []byte, t *serving.Tensor, i int) []byte {
	shape := t.Dims()
	if len(shape) == 0 {
		return serving.AppendJSONElem(b, t, 0)
	}
	return serving.AppendJSONNested(b, t, shape[1:], i*int(serving.Elements(shape[1:])))
}

// batchSize is the common first dimension of tensors that are read as
// rows; it fails when they disagree.
func batchSize(ts []serving.Tensor) (int, error) {
	n := -1
	for i := range ts {
		shape := ts[i].Dims()
		rows := 1
		if len(shape) > 0 {
			rows = int(shape[0])
		}
		if n >= 0 && rows != n {
			return 0, lode.Errorf(lode.EInternal, "the model's outputs have different numbers of rows (%d and %d)", n, rows)
		}
		n = rows
	}
	return max(n, 0), nil
}

// appendRecords writes tensors as a list of row objects, as pandas writes
// a data frame in the records orientation.
func appendRecords(b []byte, ts []serving.Tensor) ([]byte, error) {
	n, err := batchSize(ts)
	if err != nil {
		return b, err
	}
	b = append(b, '[')
	for r := range n {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j := range ts {
			if j > 0 {
				b = append(b, ',')
			}
			b = serving.AppendJSONString(b, ts[j].Name)
			b = append(b, ':')
			b = appendRow(b, &ts[j], r)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendByName writes tensors as an object of name to nested lists.
func appendByName(b []byte, ts []serving.Tensor) []byte {
	b = append(b, '{')
	for j := range ts {
		if j > 0 {
			b = append(b, ',')
		}
		b = serving.AppendJSONString(b, outputName(&ts[j], j))
		b = append(b, ':')
		b = serving.AppendJSONTensor(b, &ts[j])
	}
	return append(b, '}')
}

// outputName names an output, numbering unnamed ones.
func outputName(t *serving.Tensor, i int) string {
	if t.Name != "" {
		return t.Name
	}
	return fmt.Sprintf("output_%d", i)
}

// appendJSON writes any encoding/json value (small metadata only).
func appendJSON(b []byte, v any) []byte {
	enc, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
}

// checkOutput validates a model's answer before it is encoded.
func checkOutput(out *serving.Output) error {
	if out == nil {
		return lode.Errorf(lode.EInternal, "the model returned no output")
	}
	if out.Predictions != nil {
		// Not json.Valid: Python writes NaN and Infinity tokens.
		if _, err := parseJSON(out.Predictions); err != nil {
			return lode.Errorf(lode.EInternal, "the model returned predictions that are not valid JSON: %v", err)
		}
		return nil
	}
	for i := range out.Tensors {
		if err := checkTensor(&out.Tensors[i]); err != nil {
			return err
		}
	}
	return nil
}
