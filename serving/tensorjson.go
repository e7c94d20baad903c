package serving

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Tensors are written as JSON by hand, by the HTTP protocols (inferapi)
// and by the Python runtime when it hands a request to MLflow (pyfunc), so
// that they need no boxing and floats print the way MLflow's Python
// server prints them:
//
//   - a float is written as Python's repr writes it: a whole float keeps
//     its ".0" (3.0, not 3), and the exponent form is used below 1e-4 and
//     from 1e16 on (1e-05, 1e+16), so Python and pandas read a float back;
//   - FP32 values print with float32 precision, so 2.5 is 2.5 and 0.1 is 0.1;
//   - NaN and ±Inf are written as the bare tokens NaN, Infinity and
//     -Infinity. That is what Python's json module (MLflow's scoring
//     server), TF Serving and Triton all write; Python clients read them
//     back, strict JSON parsers do not.

// Dims is t's shape; a tensor without one (nil Shape) is a vector of Len
// elements. An empty, non-nil Shape is a scalar.
func (t *Tensor) Dims() []int64 {
	if t.Shape == nil {
		return []int64{int64(t.Len())}
	}
	return t.Shape
}

// CheckData reports an error unless Data is the slice type DType names
// (see the DType constants).
func (t *Tensor) CheckData() error {
	ok := false
	switch t.Data.(type) {
	case []bool:
		ok = t.DType == Bool
	case []int8:
		ok = t.DType == Int8
	case []int16:
		ok = t.DType == Int16
	case []int32:
		ok = t.DType == Int32
	case []int64:
		ok = t.DType == Int64
	case []uint8:
		ok = t.DType == Uint8
	case []uint16:
		ok = t.DType == Uint16
	case []uint32:
		ok = t.DType == Uint32
	case []uint64:
		ok = t.DType == Uint64
	case []float32:
		ok = t.DType == FP32
	case []float64:
		ok = t.DType == FP64
	case []string:
		ok = t.DType == Bytes
	}
	if !ok {
		return fmt.Errorf("datatype %s does not match its %T data", t.DType, t.Data)
	}
	return nil
}

// Check reports an error unless t is well formed, so that the
// AppendJSON functions can write it: CheckData passes, no dimension is
// negative, and a Shape, when there is one, holds exactly Len elements.
// The error does not name the tensor; callers say which one it is.
func (t *Tensor) Check() error {
	if err := t.CheckData(); err != nil {
		return err
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dimension", t.Shape)
		}
	}
	if t.Shape != nil && Elements(t.Shape) != int64(t.Len()) {
		return fmt.Errorf("shape %v holds %d elements, got %d", t.Shape, Elements(t.Shape), t.Len())
	}
	return nil
}

// AppendJSONFloat appends v as Python's repr writes a float, at bits (32
// or 64) precision, with NaN, Infinity and -Infinity for the non-finite
// values.
func AppendJSONFloat(b []byte, v float64, bits int) []byte {
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

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; control characters, U+2028 and U+2029 are escaped, as
// encoding/json escapes them; other characters are written as they are.
func AppendJSONString(b []byte, s string) []byte {
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

// AppendJSONElem appends element i of t: a JSON boolean, number or string
// (floats as AppendJSONFloat writes them), or null when Data is not one
// of the Tensor slice types.
func AppendJSONElem(b []byte, t *Tensor, i int) []byte {
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
		return AppendJSONFloat(b, float64(d[i]), 32)
	case []float64:
		return AppendJSONFloat(b, d[i], 64)
	case []string:
		return AppendJSONString(b, d[i])
	}
	return append(b, "null"...)
}

// AppendJSONNested appends the elements of t from off on as nested lists
// of the given shape; an empty shape appends the element at off itself.
// The shape must fit in t's data (see Check).
func AppendJSONNested(b []byte, t *Tensor, shape []int64, off int) []byte {
	if len(shape) == 0 {
		return AppendJSONElem(b, t, off)
	}
	stride := int(Elements(shape[1:]))
	b = append(b, '[')
	for i := range int(shape[0]) {
		if i > 0 {
			b = append(b, ',')
		}
		if len(shape) == 1 {
			b = AppendJSONElem(b, t, off+i)
		} else {
			b = AppendJSONNested(b, t, shape[1:], off+i*stride)
		}
	}
	return append(b, ']')
}

// AppendJSONTensor appends t as nested lists of its Dims (a scalar as its
// element). t must pass Check.
func AppendJSONTensor(b []byte, t *Tensor) []byte {
	return AppendJSONNested(b, t, t.Dims(), 0)
}
