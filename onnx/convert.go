package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lode-ml/lode/serving"
)

// dtypeOf maps an ONNX element type to the serving DType Lode exchanges it
// as; FP16 and BF16 travel as FP32.
func dtypeOf(t ort.TensorElementDataType) (serving.DType, bool) {
	switch t {
	case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeFloat16, ort.TensorElementDataTypeBFloat16:
		return serving.FP32, true
	case ort.TensorElementDataTypeDouble:
		return serving.FP64, true
	case ort.TensorElementDataTypeInt8:
		return serving.Int8, true
	case ort.TensorElementDataTypeInt16:
		return serving.Int16, true
	case ort.TensorElementDataTypeInt32:
		return serving.Int32, true
	case ort.TensorElementDataTypeInt64:
		return serving.Int64, true
	case ort.TensorElementDataTypeUint8:
		return serving.Uint8, true
	case ort.TensorElementDataTypeUint16:
		return serving.Uint16, true
	case ort.TensorElementDataTypeUint32:
		return serving.Uint32, true
	case ort.TensorElementDataTypeUint64:
		return serving.Uint64, true
	case ort.TensorElementDataTypeBool:
		return serving.Bool, true
	case ort.TensorElementDataTypeString:
		return serving.Bytes, true
	}
	return "", false
}

// dataDType names the DType of a tensor's Data slice.
func dataDType(data any) serving.DType {
	switch data.(type) {
	case []bool:
		return serving.Bool
	case []int8:
		return serving.Int8
	case []int16:
		return serving.Int16
	case []int32:
		return serving.Int32
	case []int64:
		return serving.Int64
	case []uint8:
		return serving.Uint8
	case []uint16:
		return serving.Uint16
	case []uint32:
		return serving.Uint32
	case []uint64:
		return serving.Uint64
	case []float32:
		return serving.FP32
	case []float64:
		return serving.FP64
	case []string:
		return serving.Bytes
	}
	return serving.DType(fmt.Sprintf("%T", data))
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// castSlice converts src to []T. With exact set (integer targets) it stops
// at the first value T cannot hold as it is, returning its index.
func castSlice[T, S number](src []S, exact bool) ([]T, int) {
	dst := make([]T, len(src))
	for i, v := range src {
		d := T(v)
		if exact && (S(d) != v || (v < 0) != (d < 0)) {
			return nil, i
		}
		dst[i] = d
	}
	return dst, -1
}

// castTo converts a Data slice of any numeric or bool type to []T; bad is
// the index of a value that does not fit (-1 when all do), ok false when
// src is not numeric. A slice already of type T is returned as it is.
func castTo[T number](src any, exact bool) (out []T, bad int, ok bool) {
	if s, ok := src.([]T); ok {
		return s, -1, true
	}
	switch s := src.(type) {
	case []float32:
		out, bad = castSlice[T](s, exact)
	case []float64:
		out, bad = castSlice[T](s, exact)
	case []int8:
		out, bad = castSlice[T](s, exact)
	case []int16:
		out, bad = castSlice[T](s, exact)
	case []int32:
		out, bad = castSlice[T](s, exact)
	case []int64:
		out, bad = castSlice[T](s, exact)
	case []uint8:
		out, bad = castSlice[T](s, exact)
	case []uint16:
		out, bad = castSlice[T](s, exact)
	case []uint32:
		out, bad = castSlice[T](s, exact)
	case []uint64:
		out, bad = castSlice[T](s, exact)
	case []bool:
		out = make([]T, len(s))
		for i, b := range s {
			if b {
				out[i] = 1
			}
		}
		bad = -1
	default:
		return nil, -1, false
	}
	return out, bad, true
}

func castAny[T number](src any, exact bool) (any, int, bool) {
	out, bad, ok := castTo[T](src, exact)
	return out, bad, ok
}

// convertData casts a tensor's Data to the Go slice type of an ONNX
// element type: []float32 for FLOAT, FLOAT16 and BFLOAT16, []string for
// STRING, and so on.
func convertData(src any, et ort.TensorElementDataType) (any, error) {
	want, _ := dtypeOf(et)
	if et == ort.TensorElementDataTypeString {
		if s, ok := src.([]string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("expects strings (BYTES), got %s", dataDType(src))
	}
	if _, ok := src.([]string); ok {
		return nil, fmt.Errorf("expects %s numbers, got strings (BYTES)", want)
	}
	var (
		out any
		bad = -1
		ok  bool
	)
	switch et {
	case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeFloat16, ort.TensorElementDataTypeBFloat16:
		out, bad, ok = castAny[float32](src, false)
	case ort.TensorElementDataTypeDouble:
		out, bad, ok = castAny[float64](src, false)
	case ort.TensorElementDataTypeInt8:
		out, bad, ok = castAny[int8](src, true)
	case ort.TensorElementDataTypeInt16:
		out, bad, ok = castAny[int16](src, true)
	case ort.TensorElementDataTypeInt32:
		out, bad, ok = castAny[int32](src, true)
	case ort.TensorElementDataTypeInt64:
		out, bad, ok = castAny[int64](src, true)
	case ort.TensorElementDataTypeUint8:
		out, bad, ok = castAny[uint8](src, true)
	case ort.TensorElementDataTypeUint16:
		out, bad, ok = castAny[uint16](src, true)
	case ort.TensorElementDataTypeUint32:
		out, bad, ok = castAny[uint32](src, true)
	case ort.TensorElementDataTypeUint64:
		out, bad, ok = castAny[uint64](src, true)
	case ort.TensorElementDataTypeBool:
		out, ok = toBool(src)
	default:
		return nil, fmt.Errorf("has element type %s, which Lode does not support", et)
	}
	if !ok {
		return nil, fmt.Errorf("expects %s values, got %s", want, dataDType(src))
	}
	if bad >= 0 {
		return nil, fmt.Errorf("expects %s values; value %v (at %d) is not one", want, reflect.ValueOf(src).Index(bad), bad)
	}
	return out, nil
}

// toBool casts numbers to booleans as numpy does: non-zero is true.
func toBool(src any) ([]bool, bool) {
	if b, ok := src.([]bool); ok {
		return b, true
	}
	f, _, ok := castTo[float64](src, false)
	if !ok {
		return nil, false
	}
	out := make([]bool, len(f))
	for i, v := range f {
		out[i] = v != 0
	}
	return out, true
}

// stackColumns lays equal-length columns, all of one slice type, side by
// side: the row-major [rows, len(cols)] matrix.
func stackColumns(cols []any, rows int) any {
	if len(cols) == 1 {
		return cols[0]
	}
	switch cols[0].(type) {
	case []float32:
		return stack[float32](cols, rows)
	case []float64:
		return stack[float64](cols, rows)
	case []int8:
		return stack[int8](cols, rows)
	case []int16:
		return stack[int16](cols, rows)
	case []int32:
		return stack[int32](cols, rows)
	case []int64:
		return stack[int64](cols, rows)
	case []uint8:
		return stack[uint8](cols, rows)
	case []uint16:
		return stack[uint16](cols, rows)
	case []uint32:
		return stack[uint32](cols, rows)
	case []uint64:
		return stack[uint64](cols, rows)
	case []bool:
		return stack[bool](cols, rows)
	case []string:
		return stack[string](cols, rows)
	}
	panic(fmt.Sprintf("onnx: cannot stack columns of %T", cols[0]))
}

func stack[T any](cols []any, rows int) []T {
	n := len(cols)
	out := make([]T, rows*n)
	for c, col := range cols {
		for r, v := range col.([]T) {
			out[r*n+c] = v
		}
	}
	return out
}

// newValue makes the ONNX Runtime value for an input; data is what
// convertData returned for et. The caller destroys it.
func newValue(et ort.TensorElementDataType, shape []int64, data any) (ort.Value, error) {
	switch d := data.(type) {
	case []float32:
		switch et {
		case ort.TensorElementDataTypeFloat16:
			return customTensor(shape, encode16(d, f32ToF16), et)
		case ort.TensorElementDataTypeBFloat16:
			return customTensor(shape, encode16(d, f32ToBF16), et)
		}
		return tensorOf(shape, d)
	case []float64:
		return tensorOf(shape, d)
	case []int8:
		return tensorOf(shape, d)
	case []int16:
		return tensorOf(shape, d)
	case []int32:
		return tensorOf(shape, d)
	case []int64:
		return tensorOf(shape, d)
	case []uint8:
		return tensorOf(shape, d)
	case []uint16:
		return tensorOf(shape, d)
	case []uint32:
		return tensorOf(shape, d)
	case []uint64:
		return tensorOf(shape, d)
	case []bool:
		return tensorOf(shape, d)
	case []string:
		if len(shape) == 0 {
			return nil, fmt.Errorf("string scalars are not supported; give shape [1]")
		}
		t, err := ort.NewStringTensor(ort.Shape(shape))
		if err != nil {
			return nil, err
		}
		if err := t.SetContents(d); err != nil {
			t.Destroy()
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("unsupported data %T", data)
}

// tensorOf wraps a Go slice in a tensor (a scalar when shape is empty).
func tensorOf[T ort.TensorData](shape []int64, d []T) (ort.Value, error) {
	if len(shape) == 0 {
		if len(d) != 1 {
			return nil, fmt.Errorf("a scalar needs one value, got %d", len(d))
		}
		s, err := ort.NewScalar(d[0])
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	t, err := ort.NewTensor(ort.Shape(shape), d)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func customTensor(shape []int64, b []byte, et ort.TensorElementDataType) (ort.Value, error) {
	if len(shape) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("%s inputs must have at least one dimension and one value", et)
	}
	t, err := ort.NewCustomDataTensor(ort.Shape(shape), b, et)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// newScalar preallocates a scalar output of a numeric element type.
func newScalar(et ort.TensorElementDataType) (ort.Value, error) {
	var (
		v   ort.Value
		err error
	)
	switch et {
	case ort.TensorElementDataTypeFloat:
		v, err = scalarOf[float32]()
	case ort.TensorElementDataTypeDouble:
		v, err = scalarOf[float64]()
	case ort.TensorElementDataTypeInt8:
		v, err = scalarOf[int8]()
	case ort.TensorElementDataTypeInt16:
		v, err = scalarOf[int16]()
	case ort.TensorElementDataTypeInt32:
		v, err = scalarOf[int32]()
	case ort.TensorElementDataTypeInt64:
		v, err = scalarOf[int64]()
	case ort.TensorElementDataTypeUint8:
		v, err = scalarOf[uint8]()
	case ort.TensorElementDataTypeUint16:
		v, err = scalarOf[uint16]()
	case ort.TensorElementDataTypeUint32:
		v, err = scalarOf[uint32]()
	case ort.TensorElementDataTypeUint64:
		v, err = scalarOf[uint64]()
	case ort.TensorElementDataTypeBool:
		v, err = scalarOf[bool]()
	default:
		return nil, fmt.Errorf("no scalar of element type %s", et)
	}
	return v, err
}

func scalarOf[T ort.TensorData]() (ort.Value, error) {
	s, err := ort.NewEmptyScalar[T]()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// tensorFrom reads an output tensor.
func tensorFrom(name string, v ort.Value) (serving.Tensor, error) {
	t := serving.Tensor{Name: name, Shape: []int64(v.GetShape())}
	if t.Shape == nil {
		t.Shape = []int64{}
	}
	switch v := v.(type) {
	case *ort.Tensor[float32]:
		t.DType, t.Data = serving.FP32, v.GetData()
	case *ort.Tensor[float64]:
		t.DType, t.Data = serving.FP64, v.GetData()
	case *ort.Tensor[int8]:
		t.DType, t.Data = serving.Int8, v.GetData()
	case *ort.Tensor[int16]:
		t.DType, t.Data = serving.Int16, v.GetData()
	case *ort.Tensor[int32]:
		t.DType, t.Data = serving.Int32, v.GetData()
	case *ort.Tensor[int64]:
		t.DType, t.Data = serving.Int64, v.GetData()
	case *ort.Tensor[uint8]:
		t.DType, t.Data = serving.Uint8, v.GetData()
	case *ort.Tensor[uint16]:
		t.DType, t.Data = serving.Uint16, v.GetData()
	case *ort.Tensor[uint32]:
		t.DType, t.Data = serving.Uint32, v.GetData()
	case *ort.Tensor[uint64]:
		t.DType, t.Data = serving.Uint64, v.GetData()
	case *ort.Tensor[bool]:
		t.DType, t.Data = serving.Bool, v.GetData()
	case *ort.Scalar[float32]:
		t.DType, t.Data = serving.FP32, []float32{v.GetData()}
	case *ort.Scalar[float64]:
		t.DType, t.Data = serving.FP64, []float64{v.GetData()}
	case *ort.Scalar[int8]:
		t.DType, t.Data = serving.Int8, []int8{v.GetData()}
	case *ort.Scalar[int16]:
		t.DType, t.Data = serving.Int16, []int16{v.GetData()}
	case *ort.Scalar[int32]:
		t.DType, t.Data = serving.Int32, []int32{v.GetData()}
	case *ort.Scalar[int64]:
		t.DType, t.Data = serving.Int64, []int64{v.GetData()}
	case *ort.Scalar[uint8]:
		t.DType, t.Data = serving.Uint8, []uint8{v.GetData()}
	case *ort.Scalar[uint16]:
		t.DType, t.Data = serving.Uint16, []uint16{v.GetData()}
	case *ort.Scalar[uint32]:
		t.DType, t.Data = serving.Uint32, []uint32{v.GetData()}
	case *ort.Scalar[uint64]:
		t.DType, t.Data = serving.Uint64, []uint64{v.GetData()}
	case *ort.Scalar[bool]:
		t.DType, t.Data = serving.Bool, []bool{v.GetData()}
	case *ort.StringTensor:
		t.DType = serving.Bytes
		if len(t.Shape) == 0 {
			// GetContents sizes its answer by the shape, which a scalar
			// does not have.
			s, err := v.GetElement(0)
			if err != nil {
				return t, err
			}
			t.Data = []string{s}
			break
		}
		s, err := v.GetContents()
		if err != nil {
			return t, err
		}
		t.Data = s
	case *ort.CustomDataTensor:
		et := ort.TensorElementDataType(v.DataType())
		switch et {
		case ort.TensorElementDataTypeFloat16:
			t.DType, t.Data = serving.FP32, decode16(v.GetData(), f16ToF32)
		case ort.TensorElementDataTypeBFloat16:
			t.DType, t.Data = serving.FP32, decode16(v.GetData(), bf16ToF32)
		default:
			return t, fmt.Errorf("element type %s is not supported", et)
		}
	default:
		return t, fmt.Errorf("a %s is not a tensor", v.GetONNXType())
	}
	if n := int64(t.Len()); n != serving.Elements(t.Shape) {
		return t, fmt.Errorf("%d values for shape %v", n, t.Shape)
	}
	return t, nil
}

func encode16(f []float32, enc func(float32) uint16) []byte {
	b := make([]byte, 2*len(f))
	for i, v := range f {
		binary.NativeEndian.PutUint16(b[2*i:], enc(v))
	}
	return b
}

func decode16(b []byte, dec func(uint16) float32) []float32 {
	f := make([]float32, len(b)/2)
	for i := range f {
		f[i] = dec(binary.NativeEndian.Uint16(b[2*i:]))
	}
	return f
}

// f32ToF16 rounds a float32 to the nearest IEEE 754 half (ties to even).
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff { // infinity or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00 // too large: infinity
	}
	if e <= 0 {
		// A half subnormal (or zero): the value is m * 2^-24.
		shift := uint32(14 - e)
		if shift > 24 {
			return sign
		}
		full := mant | 0x800000
		m := full >> shift
		rem := full & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && m&1 == 1) {
			m++
		}
		return sign | uint16(m)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity: as it should
	}
	return sign | uint16(h)
}

// f16ToF32 widens an IEEE 754 half.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// f32ToBF16 rounds a float32 to the nearest bfloat16 (ties to even).
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40 // NaN stays NaN
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// bf16ToF32 widens a bfloat16.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
