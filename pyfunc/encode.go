package pyfunc

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

const (
	contentJSON = "application/json"
	contentCSV  = "text/csv"
)

// encodeInput turns a request into the body and content type the worker
// hands MLflow's scoring server. A raw MLflow body goes as it came;
// otherwise a data frame becomes {"dataframe_split": ...} and tensors
// {"inputs": ...}, with "params" when there are any. binary names the
// input columns MLflow expects base64-encoded.
func encodeInput(in *serving.Input, binary map[string]bool) ([]byte, string, error) {
	if len(in.Raw) > 0 {
		ct := in.RawType
		if ct == "" {
			ct = contentJSON
		}
		return in.Raw, ct, nil
	}
	if len(in.Tensors) == 0 {
		return nil, "", lode.Errorf(lode.EBadRequest, "the request has no inputs")
	}
	b := make([]byte, 0, 256)
	var err error
	if in.Tabular {
		b, err = appendFrame(b, in, binary)
	} else {
		b, err = appendTensors(b, in)
	}
	if err != nil {
		return nil, "", err
	}
	if len(in.Params) > 0 {
		p, err := json.Marshal(in.Params)
		if err != nil {
			return nil, "", lode.Errorf(lode.EBadRequest, "cannot encode params: %v", err)
		}
		b = append(b, `,"params":`...)
		b = append(b, p...)
	}
	b = append(b, '}')
	return b, contentJSON, nil
}

// appendFrame writes {"dataframe_split": {"columns": [...], "data": [[...]]}
// (without the closing brace), rows in order. Columns are left out when
// none is named, so pandas numbers them.
func appendFrame(b []byte, in *serving.Input, binary map[string]bool) ([]byte, error) {
	rows := in.Rows()
	named := false
	for i := range in.Tensors {
		t := &in.Tensors[i]
		if t.Len() != rows {
			return nil, lode.Errorf(lode.EBadRequest, "column %q has %d values, column %q has %d", t.Name, t.Len(), in.Tensors[0].Name, rows)
		}
		if !validData(t) {
			return nil, lode.Errorf(lode.EBadRequest, "column %q: %s data does not match its type", t.Name, t.DType)
		}
		named = named || t.Name != ""
	}
	b = append(b, `{"dataframe_split":{`...)
	if named {
		b = append(b, `"columns":[`...)
		for i := range in.Tensors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, in.Tensors[i].Name)
		}
		b = append(b, "],"...)
	}
	b = append(b, `"data":[`...)
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for i := range in.Tensors {
			if i > 0 {
				b = append(b, ',')
			}
			t := &in.Tensors[i]
			b = appendElem(b, t.Data, r, binary[t.Name])
		}
		b = append(b, ']')
	}
	return append(b, "]}"...), nil
}

// appendTensors writes {"inputs": nested} for one unnamed tensor, or
// {"inputs": {"name": nested, ...}} (without the closing brace).
func appendTensors(b []byte, in *serving.Input) ([]byte, error) {
	for i := range in.Tensors {
		t := &in.Tensors[i]
		if !validData(t) {
			return nil, lode.Errorf(lode.EBadRequest, "tensor %q: %s data does not match its type", t.Name, t.DType)
		}
		if int64(t.Len()) != serving.Elements(shapeOf(t)) {
			return nil, lode.Errorf(lode.EBadRequest, "tensor %q: shape %v holds %d elements, got %d", t.Name, t.Shape, serving.Elements(t.Shape), t.Len())
		}
	}
	b = append(b, `{"inputs":`...)
	if len(in.Tensors) == 1 && in.Tensors[0].Name == "" {
		t := &in.Tensors[0]
		return appendNested(b, t.Data, shapeOf(t), 0), nil
	}
	b = append(b, '{')
	for i := range in.Tensors {
		t := &in.Tensors[i]
		if t.Name == "" {
			return nil, lode.Errorf(lode.EBadRequest, "tensor %d has no name (only a lone tensor may be unnamed)", i)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t.Name)
		b = append(b, ':')
		b = appendNested(b, t.Data, shapeOf(t), 0)
	}
	return append(b, '}'), nil
}

// shapeOf is a tensor's shape, or [len] when it has none.
func shapeOf(t *serving.Tensor) []int64 {
	if t.Shape == nil {
		return []int64{int64(t.Len())}
	}
	return t.Shape
}

// appendNested writes the elements of data from offset as nested lists
// of the given shape; a scalar shape writes the element itself.
func appendNested(b []byte, data any, shape []int64, offset int) []byte {
	if len(shape) == 0 {
		return appendElem(b, data, offset, false)
	}
	stride := int(serving.Elements(shape[1:]))
	b = append(b, '[')
	for i := 0; i < int(shape[0]); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNested(b, data, shape[1:], offset+i*stride)
	}
	return append(b, ']')
}

// validData reports whether a tensor's Data is the slice type its DType
// names.
func validData(t *serving.Tensor) bool {
	var ok bool
	switch t.DType {
	case serving.Bool:
		_, ok = t.Data.([]bool)
	case serving.Int8:
		_, ok = t.Data.([]int8)
	case serving.Int16:
		_, ok = t.Data.([]int16)
	case serving.Int32:
		_, ok = t.Data.([]int32)
	case serving.Int64:
		_, ok = t.Data.([]int64)
	case serving.Uint8:
		_, ok = t.Data.([]uint8)
	case serving.Uint16:
		_, ok = t.Data.([]uint16)
	case serving.Uint32:
		_, ok = t.Data.([]uint32)
	case serving.Uint64:
		_, ok = t.Data.([]uint64)
	case serving.FP32:
		_, ok = t.Data.([]float32)
	case serving.FP64:
		_, ok = t.Data.([]float64)
	case serving.Bytes:
		_, ok = t.Data.([]string)
	}
	return ok
}

// appendElem writes element i of data as JSON. Floats keep a decimal
// point (so pandas and numpy read them as floats) and non-finite ones are
// written NaN, Infinity and -Infinity, as Python's json reads them.
func appendElem(b []byte, data any, i int, base64Str bool) []byte {
	switch d := data.(type) {
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
		if base64Str {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, []byte(d[i]))
			return append(b, '"')
		}
		return appendString(b, d[i])
	}
	return append(b, "null"...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, bits)
	for _, c := range b[n:] {
		if c == '.' || c == 'e' {
			return b
		}
	}
	return append(b, ".0"...)
}

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
