package onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// predictions encodes the outputs of a model with a sequence or map output
// (which no serving.Tensor can hold) as MLflow's scoring server writes
// them under "predictions": for a tabular input (rows >= 0), records with
// one field per output, each output flattened to one value per row (a map
// becomes an object, keys as strings); otherwise an object with one entry
// per output, tensors as nested lists.
func (m *Model) predictions(results []ort.Value, rows int) (*serving.Output, error) {
	if rows >= 0 {
		cols := make([][]any, len(results))
		same := true
		for i, v := range results {
			col, err := flatJSON(v)
			if err != nil {
				return nil, lode.Internal(err, fmt.Sprintf("cannot read output %q", m.outputs[i].name))
			}
			cols[i] = col
			same = same && len(col) == rows
		}
		if same {
			records := make([]any, rows)
			for r := range records {
				rec := make(object, len(cols))
				for i, col := range cols {
					rec[i] = field{m.outputs[i].name, col[r]}
				}
				records[r] = rec
			}
			return encodePredictions(records)
		}
		// MLflow would fail to build its DataFrame; answer as for tensors.
	}
	obj := make(object, len(results))
	for i, v := range results {
		j, err := toJSON(v)
		if err != nil {
			return nil, lode.Internal(err, fmt.Sprintf("cannot read output %q", m.outputs[i].name))
		}
		obj[i] = field{m.outputs[i].name, j}
	}
	return encodePredictions(obj)
}

func encodePredictions(v any) (*serving.Output, error) {
	b, err := appendJSON(nil, v)
	if err != nil {
		return nil, lode.Internal(err, "cannot encode the predictions")
	}
	return &serving.Output{Predictions: b}, nil
}

// field and object make a JSON object that keeps its fields' order.
type field struct {
	key   string
	value any
}

type object []field

// appendJSON encodes the values toJSON builds (without reflection: a
// ZipMap output holds a map per row).
func appendJSON(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case object:
		b = append(b, '{')
		for i, f := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, f.key)
			b = append(b, ':')
			if b, err = appendJSON(b, f.value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case float64:
		return appendFloat(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	}
	// Strings and the narrower integers: rare enough for the generic path.
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendFloat writes a finite float64 as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// toJSON converts an output to what ndarray.tolist() and onnxruntime's
// Python sequences and maps become in JSON.
func toJSON(v ort.Value) (any, error) {
	switch v := v.(type) {
	case *ort.Sequence:
		items, err := v.GetValues()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			if out[i], err = toJSON(it); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ort.Map:
		return mapJSON(v)
	}
	t, err := tensorFrom("", v)
	if err != nil {
		return nil, err
	}
	flat := elements(t.Data)
	return nest(flat, t.Shape), nil
}

// flatJSON converts an output to one JSON value per element: a tensor's
// elements, flattened, or a sequence's items.
func flatJSON(v ort.Value) ([]any, error) {
	switch v := v.(type) {
	case *ort.Sequence:
		j, err := toJSON(v)
		if err != nil {
			return nil, err
		}
		return j.([]any), nil
	case *ort.Map:
		j, err := mapJSON(v)
		if err != nil {
			return nil, err
		}
		return []any{j}, nil
	}
	t, err := tensorFrom("", v)
	if err != nil {
		return nil, err
	}
	return elements(t.Data), nil
}

func mapJSON(m *ort.Map) (object, error) {
	kv, vv, err := m.GetKeysAndValues()
	if err != nil {
		return nil, err
	}
	kt, err := tensorFrom("", kv)
	if err != nil {
		return nil, fmt.Errorf("map keys: %w", err)
	}
	values, err := flatJSON(vv)
	if err != nil {
		return nil, fmt.Errorf("map values: %w", err)
	}
	keys := elements(kt.Data)
	if len(keys) != len(values) {
		return nil, fmt.Errorf("map has %d keys and %d values", len(keys), len(values))
	}
	obj := make(object, len(keys))
	for i, k := range keys {
		obj[i] = field{keyString(k), values[i]}
	}
	return obj, nil
}

// keyString writes a map key as Python's json module does.
func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case bool:
		return strconv.FormatBool(k)
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64)
	case nil:
		return "null"
	}
	return fmt.Sprint(k)
}

// elements lists a Data slice's values as JSON values: float32 widened to
// float64 as Python does, NaN and infinities as null.
func elements(data any) []any {
	switch d := data.(type) {
	case []float32:
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonFloat(float64(v))
		}
		return out
	case []float64:
		out := make([]any, len(d))
		for i, v := range d {
			out[i] = jsonFloat(v)
		}
		return out
	case []string:
		return anySlice(d)
	case []bool:
		return anySlice(d)
	case []int8:
		return anySlice(d)
	case []int16:
		return anySlice(d)
	case []int32:
		return anySlice(d)
	case []int64:
		return anySlice(d)
	case []uint8:
		return anySlice(d)
	case []uint16:
		return anySlice(d)
	case []uint32:
		return anySlice(d)
	case []uint64:
		return anySlice(d)
	}
	return nil
}

func anySlice[T any](d []T) []any {
	out := make([]any, len(d))
	for i, v := range d {
		out[i] = v
	}
	return out
}

func jsonFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// nest shapes flat values as nested lists (a scalar stays a value).
func nest(flat []any, shape []int64) any {
	if len(shape) == 0 {
		if len(flat) == 0 {
			return nil
		}
		return flat[0]
	}
	if len(shape) == 1 {
		return flat
	}
	n := int(shape[0])
	out := make([]any, n)
	if n == 0 {
		return out
	}
	step := len(flat) / n
	for i := range out {
		out[i] = nest(flat[i*step:(i+1)*step], shape[1:])
	}
	return out
}
