package inferapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// Responses are written by hand so that tensors need no boxing and floats
// print the way MLflow's Python server prints them:
//
//   - a whole float keeps its ".0" (3.0, not 3), as Python's repr does;
//   - FP32 values print with float32 precision, so 2.5 is 2.5 and 0.1 is 0.1;
//   - NaN and ±Inf are written as the bare tokens NaN, Infinity and
//     -Infinity. That is what Python's json module (MLflow's scoring
//     server), TF Serving and Triton all write; Python clients read them
//     back, strict JSON parsers do not.

// appendFloat writes v as Python's repr would, at bits precision.
func appendFloat(b []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "Infinity"...)
	case math.IsInf(v, -1):
		return append(b, "-Infinity"...)
	}
	if a := math.Abs(v); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.AppendFloat(b, v, 'e', -1, bits)
	}
	n := len(b)
	b = strconv.AppendFloat(b, v, 'f', -1, bits)
	for _, c := range b[n:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// checkTensor verifies that a model's output tensor is well formed.
func checkTensor(t *serving.Tensor) error {
	ok := false
	switch t.Data.(type) {
	case []bool:
		ok = t.DType == serving.Bool
	case []int8:
		ok = t.DType == serving.Int8
	case []int16:
		ok = t.DType == serving.Int16
	case []int32:
		ok = t.DType == serving.Int32
	case []int64:
		ok = t.DType == serving.Int64
	case []uint8:
		ok = t.DType == serving.Uint8
	case []uint16:
		ok = t.DType == serving.Uint16
	case []uint32:
		ok = t.DType == serving.Uint32
	case []uint64:
		ok = t.DType == serving.Uint64
	case []float32:
		ok = t.DType == serving.FP32
	case []float64:
		ok = t.DType == serving.FP64
	case []string:
		ok = t.DType == serving.Bytes
	}
	if !ok {
		return lode.Errorf(lode.EInternal, "the model returned output '%s' with datatype %s holding %T", t.Name, t.DType, t.Data)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return lode.Errorf(lode.EInternal, "the model returned output '%s' with shape %v", t.Name, t.Shape)
		}
	}
	if t.Shape != nil && serving.Elements(t.Shape) != int64(t.Len()) {
		return lode.Errorf(lode.EInternal, "the model returned output '%s' of shape %v holding %d values", t.Name, t.Shape, t.Len())
	}
	return nil
}

// shapeOf is a tensor's shape; a tensor without one is a vector.
func shapeOf(t *serving.Tensor) []int64 {
	if t.Shape == nil {
		return []int64{int64(t.Len())}
	}
	return t.Shape
}

// appendElem writes element i of t.
func appendElem(b []byte, t *serving.Tensor, i int) []byte {
	switch d := t.Data.(type) {
	case []bool:
		return strconv.AppendBool(b, d[i])
	case []int8:
		return strconv.AppendInt(b, int64(d[i]), 10)
	case []int16:
		return strconv.AppendInt(b, int64(d[i]), 10)
	case []int32:
		return strconv.AppendInt(b, int64(d[i]), 10)
	case []int64:
		return strconv.AppendInt(b, d[i], 10)
	case []uint8:
		return strconv.AppendUint(b, uint64(d[i]), 10)
	case []uint16:
		return strconv.AppendUint(b, uint64(d[i]), 10)
	case []uint32:
		return strconv.AppendUint(b, uint64(d[i]), 10)
	case []uint64:
		return strconv.AppendUint(b, d[i], 10)
	case []float32:
		return appendFloat(b, float64(d[i]), 32)
	case []float64:
		return appendFloat(b, d[i], 64)
	case []string:
		return appendString(b, d[i])
	}
	return append(b, "null"...)
}

// appendFlat writes t's elements as one flat list.
func appendFlat(b []byte, t *serving.Tensor) []byte {
	b = append(b, '[')
	for i := range t.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendElem(b, t, i)
	}
	return append(b, ']')
}

// appendNested writes the elements from off on as nested lists of shape.
func appendNested(b []byte, t *serving.Tensor, shape []int64, off int) []byte {
	if len(shape) == 0 {
		return appendElem(b, t, off)
	}
	stride := int(serving.Elements(shape[1:]))
	b = append(b, '[')
	for i := range int(shape[0]) {
		if i > 0 {
			b = append(b, ',')
		}
		if len(shape) == 1 {
			b = appendElem(b, t, off+i)
		} else {
			b = appendNested(b, t, shape[1:], off+i*stride)
		}
	}
	return append(b, ']')
}

// appendTensor writes t as nested lists of its shape.
func appendTensor(b []byte, t *serving.Tensor) []byte {
	return appendNested(b, t, shapeOf(t), 0)
}

// appendRow writes row i of t, its sub-tensor along the first dimension.
func appendRow(b []byte, t *serving.Tensor, i int) []byte {
	shape := shapeOf(t)
	if len(shape) == 0 {
		return appendElem(b, t, 0)
	}
	return appendNested(b, t, shape[1:], i*int(serving.Elements(shape[1:])))
}

// batchSize is the common first dimension of tensors that are read as
// rows; it fails when they disagree.
func batchSize(ts []serving.Tensor) (int, error) {
	n := -1
	for i := range ts {
		shape := shapeOf(&ts[i])
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
			b = appendString(b, ts[j].Name)
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
		b = appendString(b, outputName(&ts[j], j))
		b = append(b, ':')
		b = appendTensor(b, &ts[j])
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
