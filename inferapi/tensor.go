package inferapi

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// maxElements bounds the elements one tensor may claim, so that a small
// binary request cannot ask for a huge allocation.
const maxElements = 1 << 28

func badRequest(format string, args ...any) error {
	return lode.Errorf(lode.EBadRequest, format, args...)
}

// packedTensor makes a tensor of a packed array: integer literals become
// INT64, other numbers FP64 (null as NaN), strings BYTES, booleans BOOL.
func packedTensor(name string, p *packed) serving.Tensor {
	t := serving.Tensor{Name: name, Shape: p.shape}
	switch p.kind {
	case kInt:
		t.DType, t.Data = serving.Int64, p.ints
	case kFloat:
		t.DType, t.Data = serving.FP64, p.floats
	case kBool:
		t.DType, t.Data = serving.Bool, p.bools
	case kStr:
		t.DType, t.Data = serving.Bytes, p.strs
	default:
		t.DType, t.Data = serving.FP64, []float64{}
	}
	return t
}

// isScalar reports whether v is a JSON scalar (null included).
func isScalar(v any) bool {
	switch v.(type) {
	case nil, bool, string, int64, float64:
		return true
	}
	return false
}

// valueTensor makes a tensor of a parsed value: a scalar is a tensor of
// shape [], nested lists take their nesting as shape.
func valueTensor(name string, v any) (serving.Tensor, error) {
	switch v := v.(type) {
	case *packed:
		return packedTensor(name, v), nil
	case []any, *object:
		return serving.Tensor{}, badRequest("%s holds %s; expected a number, string or boolean, or nested lists of them", label(name), describe(v))
	}
	p := pack([]any{v}).(*packed)
	t := packedTensor(name, p)
	t.Shape = []int64{}
	return t, nil
}

func label(name string) string {
	if name == "" {
		return "the input"
	}
	return fmt.Sprintf("input '%s'", name)
}

// describe says why a value does not make a tensor.
func describe(v any) string {
	if _, ok := v.(*object); ok {
		return "an object"
	}
	objects, kinds := false, map[string]bool{}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch v := v.(type) {
		case *object:
			objects = true
		case []any:
			if depth < maxDepth {
				for _, e := range v {
					walk(e, depth+1)
				}
			}
		case *packed:
			kinds[kindName(v.kind)] = true
		default:
			kinds[kindName(pack([]any{v}).(*packed).kind)] = true
		}
	}
	walk(v, 0)
	delete(kinds, "")
	switch {
	case objects:
		return "objects inside lists"
	case len(kinds) > 1:
		return "values of mixed types"
	}
	return "ragged nested lists (rows of different lengths)"
}

func kindName(k kind) string {
	switch k {
	case kInt, kFloat:
		return "number"
	case kBool:
		return "boolean"
	case kStr:
		return "string"
	}
	return ""
}

// addFrom appends element i of p, keeping integer literals integers.
func (b *builder) addFrom(p *packed, i int) {
	switch p.kind {
	case kInt:
		b.addInt(p.ints[i])
	case kFloat:
		if v, ok := p.intAt(i); ok {
			b.addInt(v)
		} else {
			b.addFloat(p.floats[i])
		}
	case kBool:
		b.addBool(p.bools[i])
	case kStr:
		b.addStr(p.strs[i])
	}
}

// column makes a data frame column of the values a builder collected. A
// column of strings with missing values (null, or the NaN pandas writes
// for them, as MLflow's own serving examples do) is BYTES with "" there.
func column(name string, b *builder) (serving.Tensor, error) {
	v := b.result()
	if p, ok := v.(*packed); ok {
		return packedTensor(name, p), nil
	}
	if strs, ok := stringsWithMissing(b.gen); ok {
		return serving.Tensor{Name: name, DType: serving.Bytes, Shape: []int64{int64(len(strs))}, Data: strs}, nil
	}
	return serving.Tensor{}, badRequest("column '%s' holds %s", name, describe(b.gen))
}

func stringsWithMissing(vals []any) ([]string, bool) {
	strs := make([]string, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case string:
			strs[i] = v
		case nil:
		case float64:
			if !math.IsNaN(v) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return strs, true
}

// decodeTensorValue decodes MLflow's "instances" or "inputs", or TF
// Serving's: one value, nested lists (one unnamed tensor), an object of
// name to value (named tensors) or a list of objects (records).
func decodeTensorValue(v any) (*serving.Input, error) {
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 0 {
			return nil, badRequest("the inputs object is empty")
		}
		in := &serving.Input{Tensors: make([]serving.Tensor, 0, len(v.keys))}
		for i, k := range v.keys {
			t, err := valueTensor(k, v.vals[i])
			if err != nil {
				return nil, err
			}
			in.Tensors = append(in.Tensors, t)
		}
		return in, nil
	case []any:
		if _, ok := v[0].(*object); ok {
			return decodeRecords(v, false)
		}
	}
	t, err := valueTensor("", v)
	if err != nil {
		return nil, err
	}
	return &serving.Input{Tensors: []serving.Tensor{t}}, nil
}

// decodeRecords decodes a list of objects. When every value is a scalar
// they are the rows of a data frame (strict: they must be; missing keys are
// null); otherwise each key is a tensor stacking its values along a new
// first dimension.
func decodeRecords(rows []any, strict bool) (*serving.Input, error) {
	objs := make([]*object, len(rows))
	var keys []string
	seen := map[string]bool{}
	scalars := true
	for i, r := range rows {
		o, ok := r.(*object)
		if !ok {
			return nil, badRequest("record %d is not an object; all records must be objects", i)
		}
		objs[i] = o
		for j, k := range o.keys {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
			if !isScalar(o.vals[j]) {
				scalars = false
			}
		}
	}
	if len(keys) == 0 {
		return nil, badRequest("the records have no fields")
	}
	in := &serving.Input{Tabular: scalars || strict, Tensors: make([]serving.Tensor, 0, len(keys))}
	for _, k := range keys {
		var b builder
		for _, o := range objs {
			v, ok := o.get(k)
			if !ok {
				if !in.Tabular {
					return nil, badRequest("input '%s' is missing from some instances", k)
				}
				v = nil
			}
			b.add(v)
		}
		var t serving.Tensor
		var err error
		if in.Tabular {
			t, err = column(k, &b)
		} else if p, ok := b.result().(*packed); ok {
			t = packedTensor(k, p)
		} else {
			err = badRequest("input '%s' holds %s across instances", k, describe(b.gen))
		}
		if err != nil {
			return nil, err
		}
		in.Tensors = append(in.Tensors, t)
	}
	return in, nil
}

// unb64 replaces TF Serving's {"b64": "..."} values by the bytes they
// encode.
func unb64(v any) (any, error) {
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 1 && v.keys[0] == "b64" {
			s, ok := v.vals[0].(string)
			if !ok {
				return nil, badRequest(`"b64" must hold a base64 string`)
			}
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, badRequest(`"b64" holds invalid base64: %v`, err)
			}
			return string(raw), nil
		}
		o := &object{}
		for i, k := range v.keys {
			e, err := unb64(v.vals[i])
			if err != nil {
				return nil, err
			}
			o.set(k, e)
		}
		return o, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = unb64(e); err != nil {
				return nil, err
			}
		}
		return pack(out), nil
	}
	return v, nil
}

// flatten collects the scalars of nested lists, whatever their nesting,
// into one packed vector (KServe accepts data flat or nested).
func flatten(v any) (*packed, error) {
	if p, ok := v.(*packed); ok {
		return p, nil
	}
	var b builder
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				if err := walk(e); err != nil {
					return err
				}
			}
		case *packed:
			for i := range v.len() {
				b.addFrom(v, i)
			}
		case *object:
			return badRequest("tensor data holds an object")
		default:
			b.add(v)
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	p, ok := b.result().(*packed)
	if !ok {
		return nil, badRequest("tensor data holds values of mixed types")
	}
	return p, nil
}

// dtypeSize is the bytes per element of a fixed-size datatype: 0 for
// BYTES, -1 for types Lode does not carry.
func dtypeSize(d serving.DType) int {
	switch d {
	case serving.Bool, serving.Int8, serving.Uint8:
		return 1
	case serving.Int16, serving.Uint16:
		return 2
	case serving.Int32, serving.Uint32, serving.FP32:
		return 4
	case serving.Int64, serving.Uint64, serving.FP64:
		return 8
	case serving.Bytes:
		return 0
	}
	return -1
}

// checkShape validates a requested shape and returns its element count.
func checkShape(name string, shape []int64) (int, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, badRequest("input '%s' has a negative dimension in shape %v", name, shape)
		}
		if d > 0 && n > maxElements/d {
			return 0, badRequest("input '%s' of shape %v holds more than %d elements", name, shape, maxElements)
		}
		n *= d
	}
	return int(n), nil
}

func intRange(d serving.DType) (lo, hi float64) {
	switch d {
	case serving.Int8:
		return math.MinInt8, math.MaxInt8
	case serving.Int16:
		return math.MinInt16, math.MaxInt16
	case serving.Int32:
		return math.MinInt32, math.MaxInt32
	case serving.Uint8:
		return 0, math.MaxUint8
	case serving.Uint16:
		return 0, math.MaxUint16
	case serving.Uint32:
		return 0, math.MaxUint32
	case serving.Uint64:
		return 0, math.MaxUint64
	}
	return math.MinInt64, math.MaxInt64
}

// castPacked converts JSON data to a tensor of the declared datatype.
func castPacked(name string, d serving.DType, shape []int64, p *packed) (serving.Tensor, error) {
	n := p.len()
	t := serving.Tensor{Name: name, DType: d, Shape: shape}
	wrong := func() (serving.Tensor, error) {
		return serving.Tensor{}, badRequest("input '%s' of datatype %s holds %s values", name, d, kindName(p.kind))
	}
	switch d {
	case serving.Bool:
		if p.kind != kBool && n > 0 {
			return wrong()
		}
		t.Data = append([]bool{}, p.bools...)
		return t, nil
	case serving.Bytes:
		if p.kind != kStr && n > 0 {
			return wrong()
		}
		t.Data = append([]string{}, p.strs...)
		return t, nil
	case serving.FP32, serving.FP64:
		if n > 0 && p.kind != kInt && p.kind != kFloat {
			return wrong()
		}
		if d == serving.FP64 {
			if p.kind == kFloat {
				t.Data = p.floats
			} else {
				f := make([]float64, n)
				for i, v := range p.ints {
					f[i] = float64(v)
				}
				t.Data = f
			}
			return t, nil
		}
		f := make([]float32, n)
		for i := range n {
			if p.kind == kInt {
				f[i] = float32(p.ints[i])
			} else {
				f[i] = float32(p.floats[i])
			}
		}
		t.Data = f
		return t, nil
	}
	if dtypeSize(d) < 0 {
		return serving.Tensor{}, badRequest("input '%s' has datatype %q, which Lode does not support", name, d)
	}
	if n > 0 && p.kind != kInt && p.kind != kFloat {
		return wrong()
	}
	lo, hi := intRange(d)
	vals := make([]int64, n)
	var uvals []uint64
	if d == serving.Uint64 {
		uvals = make([]uint64, n)
	}
	for i := range n {
		if v, ok := p.intAt(i); ok {
			if float64(v) < lo || float64(v) > hi {
				return serving.Tensor{}, badRequest("input '%s' value %d is out of range for %s", name, v, d)
			}
			vals[i] = v
			if uvals != nil {
				uvals[i] = uint64(v)
			}
			continue
		}
		f := p.floats[i]
		if f != math.Trunc(f) || f < lo || f > hi || (d == serving.Int64 && f >= 0x1p63) || (d == serving.Uint64 && f >= 0x1p64) {
			return serving.Tensor{}, badRequest("input '%s' value %v is not a valid %s", name, f, d)
		}
		if uvals != nil {
			if f >= math.MaxInt64 {
				uvals[i] = uint64(f)
			} else {
				uvals[i] = uint64(int64(f))
			}
			continue
		}
		vals[i] = int64(f)
	}
	switch d {
	case serving.Int8:
		t.Data = convertInts[int8](vals)
	case serving.Int16:
		t.Data = convertInts[int16](vals)
	case serving.Int32:
		t.Data = convertInts[int32](vals)
	case serving.Int64:
		t.Data = vals
	case serving.Uint8:
		t.Data = convertInts[uint8](vals)
	case serving.Uint16:
		t.Data = convertInts[uint16](vals)
	case serving.Uint32:
		t.Data = convertInts[uint32](vals)
	case serving.Uint64:
		t.Data = uvals
	}
	return t, nil
}

func convertInts[T int8 | int16 | int32 | uint8 | uint16 | uint32](vals []int64) []T {
	out := make([]T, len(vals))
	for i, v := range vals {
		out[i] = T(v)
	}
	return out
}

// fromBinary decodes a tensor sent in Triton's binary tensor data
// extension: little-endian elements, BYTES as 4-byte length-prefixed
// strings.
// newSlice makes the Data slice of a fixed-size numeric DType.
func newSlice(d serving.DType, n int) any {
	switch d {
	case serving.Int8:
		return make([]int8, n)
	case serving.Int16:
		return make([]int16, n)
	case serving.Uint16:
		return make([]uint16, n)
	case serving.Int32:
		return make([]int32, n)
	case serving.Uint32:
		return make([]uint32, n)
	case serving.FP32:
		return make([]float32, n)
	case serving.Int64:
		return make([]int64, n)
	case serving.Uint64:
		return make([]uint64, n)
	case serving.FP64:
		return make([]float64, n)
	}
	return nil
}

func fromBinary(name string, d serving.DType, shape []int64, n int, raw []byte) (serving.Tensor, error) {
	t := serving.Tensor{Name: name, DType: d, Shape: shape}
	size := dtypeSize(d)
	if size < 0 {
		return t, badRequest("input '%s' has datatype %q, which Lode does not support", name, d)
	}
	if size == 0 {
		strs := make([]string, 0, min(n, len(raw)/4))
		for len(raw) > 0 {
			if len(raw) < 4 {
				return t, badRequest("input '%s': truncated BYTES element", name)
			}
			l := binary.LittleEndian.Uint32(raw)
			raw = raw[4:]
			if uint64(l) > uint64(len(raw)) {
				return t, badRequest("input '%s': BYTES element of %d bytes overruns the data", name, l)
			}
			if len(strs) == n {
				return t, badRequest("input '%s' holds more than the %d elements of shape %v", name, n, shape)
			}
			strs = append(strs, string(raw[:l]))
			raw = raw[l:]
		}
		if len(strs) != n {
			return t, badRequest("input '%s' holds %d elements, shape %v holds %d", name, len(strs), shape, n)
		}
		t.Data = strs
		return t, nil
	}
	if len(raw) != n*size {
		return t, badRequest("input '%s' has %d bytes of binary data; %d elements of %s take %d", name, len(raw), n, d, n*size)
	}
	switch d {
	case serving.Bool:
		v := make([]bool, n)
		for i := range v {
			v[i] = raw[i] != 0
		}
		t.Data = v
	case serving.Uint8:
		t.Data = append([]uint8{}, raw...)
	default:
		// Fixed-size numbers: the slice of the DType's Go type, filled
		// from the little-endian bytes.
		t.Data = newSlice(d, n)
		if _, err := binary.Decode(raw, binary.LittleEndian, t.Data); err != nil {
			return t, badRequest("input '%s': %v", name, err)
		}
	}
	return t, nil
}

// appendBinary writes t's elements in the binary tensor data format.
func appendBinary(b []byte, t *serving.Tensor) []byte {
	le := binary.LittleEndian
	switch d := t.Data.(type) {
	case []bool:
		for _, v := range d {
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	case []int8:
		for _, v := range d {
			b = append(b, byte(v))
		}
	case []uint8:
		b = append(b, d...)
	case []int16:
		for _, v := range d {
			b = le.AppendUint16(b, uint16(v))
		}
	case []uint16:
		for _, v := range d {
			b = le.AppendUint16(b, v)
		}
	case []int32:
		for _, v := range d {
			b = le.AppendUint32(b, uint32(v))
		}
	case []uint32:
		for _, v := range d {
			b = le.AppendUint32(b, v)
		}
	case []float32:
		for _, v := range d {
			b = le.AppendUint32(b, math.Float32bits(v))
		}
	case []int64:
		for _, v := range d {
			b = le.AppendUint64(b, uint64(v))
		}
	case []uint64:
		for _, v := range d {
			b = le.AppendUint64(b, v)
		}
	case []float64:
		for _, v := range d {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	case []string:
		for _, v := range d {
			b = le.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// predictionTensors reads a Python model's predictions as tensors, for
// the protocols that answer in tensors: a list of numbers is one FP64
// tensor (INT64 when all are integers), nested lists are shaped, a list of
// records is one column per key (tabular), an object is one tensor per
// key, strings are BYTES. A lone output takes the name of the model's only
// output when it has one, else "predictions".
func predictionTensors(raw json.RawMessage, outputs []serving.TensorSpec) ([]serving.Tensor, bool, error) {
	fail := func(err error) ([]serving.Tensor, bool, error) {
		return nil, false, lode.Errorf(lode.EInternal, "the model's predictions cannot be read as tensors: %s", strings.TrimPrefix(lode.ErrorMessage(err), "the input "))
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, false, lode.Errorf(lode.EInternal, "the model returned predictions that are not valid JSON: %v", err)
	}
	name := "predictions"
	if len(outputs) == 1 && outputs[0].Name != "" {
		name = outputs[0].Name
	}
	switch v := v.(type) {
	case *object:
		in, err := decodeTensorValue(v)
		if err != nil {
			return fail(err)
		}
		return in.Tensors, false, nil
	case []any:
		if _, ok := v[0].(*object); ok {
			in, err := decodeRecords(v, false)
			if err != nil {
				return fail(err)
			}
			return in.Tensors, in.Tabular, nil
		}
	}
	t, err := valueTensor(name, v)
	if err != nil {
		return fail(err)
	}
	if len(t.Shape) == 0 {
		t.Shape = []int64{1}
	}
	return []serving.Tensor{t}, false, nil
}

// outputTensors returns a model's answer as tensors, converting Python
// predictions.
func outputTensors(ep *serving.Endpoint, out *serving.Output) ([]serving.Tensor, bool, error) {
	if out.Predictions == nil {
		return out.Tensors, out.Tabular, nil
	}
	specs := ep.Info().Outputs
	if len(specs) == 0 {
		if sig := ep.Signature(); sig != nil {
			specs = sig.Outputs
		}
	}
	return predictionTensors(out.Predictions, specs)
}

// tabularModel reports whether a model takes a data frame.
func tabularModel(ep *serving.Endpoint) bool {
	if sig := ep.Signature(); sig != nil && len(sig.Inputs) > 0 {
		return sig.Tabular
	}
	return ep.Info().Tabular
}

// adaptTabular marks named, equally long vectors as the columns of a data
// frame when the model takes one, as MLflow does for a dict of arrays.
func adaptTabular(in *serving.Input, ep *serving.Endpoint) {
	if in.Tabular || len(in.Tensors) == 0 || !tabularModel(ep) {
		return
	}
	n := -1
	for i := range in.Tensors {
		t := &in.Tensors[i]
		if t.Name == "" || len(t.Shape) != 1 || (n >= 0 && int(t.Shape[0]) != n) {
			return
		}
		n = int(t.Shape[0])
	}
	in.Tabular = true
}
