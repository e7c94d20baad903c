package onnx

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// port is one input or output of the graph.
type port struct {
	name string
	kind ort.ONNXType
	elem ort.TensorElementDataType
	// dims are the declared dimensions, -1 where symbolic or unknown. ONNX
	// Runtime reports an unknown shape as no dimensions, like a scalar's.
	dims []int64
}

func (p port) isTensor() bool { return p.kind == ort.ONNXTypeTensor }

// Model is a loaded ONNX model: one ONNX Runtime session that requests
// run concurrently (ONNX Runtime's Run is thread-safe). It implements
// serving.Model.
type Model struct {
	inputs  []port
	outputs []port
	info    serving.Info
	// tensorsOnly is false when an output is a sequence or a map (such as
	// skl2onnx's ZipMap probabilities); Predict then answers with
	// Output.Predictions, encoded as MLflow's scoring server would.
	tensorsOnly bool
	// scalarOut marks outputs declared without dimensions, which Predict
	// preallocates as scalars (onnxruntime_go cannot hand back a scalar
	// ONNX Runtime allocated). noScalars is set once a run showed that such
	// an output was not a scalar after all but of unknown shape.
	scalarOut []bool
	noScalars atomic.Bool

	mu     sync.RWMutex // held for reading by runs, for writing by Close
	sess   *ort.DynamicAdvancedSession
	closed bool
}

// newModel checks the graph's inputs and outputs and describes them.
func newModel(ins, outs []ort.InputOutputInfo) (*Model, error) {
	if len(ins) == 0 {
		return nil, fmt.Errorf("the ONNX graph has no inputs")
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("the ONNX graph has no outputs")
	}
	m := &Model{tensorsOnly: true, info: serving.Info{Runtime: RuntimeName}}
	for _, in := range ins {
		p := newPort(in)
		if !p.isTensor() {
			return nil, fmt.Errorf("input %q is a %s; Lode feeds only tensors", p.name, p.kind)
		}
		dt, ok := dtypeOf(p.elem)
		if !ok {
			return nil, fmt.Errorf("input %q has element type %s, which Lode does not support", p.name, p.elem)
		}
		m.inputs = append(m.inputs, p)
		m.info.Inputs = append(m.info.Inputs, serving.TensorSpec{Name: p.name, DType: dt, Shape: p.dims})
	}
	for _, out := range outs {
		p := newPort(out)
		spec := serving.TensorSpec{Name: p.name}
		scalar := false
		switch p.kind {
		case ort.ONNXTypeTensor:
			dt, ok := dtypeOf(p.elem)
			if !ok {
				return nil, fmt.Errorf("output %q has element type %s, which Lode does not support", p.name, p.elem)
			}
			spec.DType, spec.Shape = dt, p.dims
			scalar = len(p.dims) == 0 && p.elem != ort.TensorElementDataTypeString &&
				p.elem != ort.TensorElementDataTypeFloat16 && p.elem != ort.TensorElementDataTypeBFloat16
		case ort.ONNXTypeSequence, ort.ONNXTypeMap:
			// No tensor type describes them: DType and Shape stay empty.
			m.tensorsOnly = false
		default:
			return nil, fmt.Errorf("output %q is a %s, which Lode does not support", p.name, p.kind)
		}
		m.outputs = append(m.outputs, p)
		m.scalarOut = append(m.scalarOut, scalar)
		m.info.Outputs = append(m.info.Outputs, spec)
	}
	return m, nil
}

func newPort(info ort.InputOutputInfo) port {
	p := port{name: info.Name, kind: info.OrtValueType, elem: info.DataType}
	if p.kind == ort.ONNXTypeTensor {
		p.dims = make([]int64, len(info.Dimensions))
		for i, d := range info.Dimensions {
			if d < 0 {
				d = -1
			}
			p.dims[i] = d
		}
	}
	return p
}

// Info describes the graph's inputs and outputs. Dimensions are -1 where
// the graph leaves them symbolic; FP16 and BF16 tensors are exchanged as
// FP32; sequence and map outputs have an empty DType and Shape.
func (m *Model) Info() serving.Info {
	info := m.info
	info.Inputs = cloneSpecs(info.Inputs)
	info.Outputs = cloneSpecs(info.Outputs)
	return info
}

func cloneSpecs(specs []serving.TensorSpec) []serving.TensorSpec {
	out := make([]serving.TensorSpec, len(specs))
	for i, s := range specs {
		if s.Shape != nil {
			s.Shape = append(make([]int64, 0, len(s.Shape)), s.Shape...)
		}
		out[i] = s
	}
	return out
}

// Close destroys the session, once runs in progress are done.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.sess == nil {
		return nil
	}
	err := m.sess.Destroy()
	m.sess = nil
	return err
}

// feed is one input, ready to become an ONNX Runtime value: data is the Go
// slice of the input's element type (float32 for FP16 and BF16).
type feed struct {
	shape []int64
	data  any
}

// Predict runs the model as MLflow's ONNX pyfunc wrapper does. A tabular
// input feeds a single-input model the whole frame as a [rows, columns]
// matrix (DataFrame.values), and a model with several inputs one column
// each, by name; tensors feed the inputs they are named after (a lone
// tensor feeds a single-input model whatever its name). Values are cast
// to the inputs' element types (float64 to float32, as MLflow does, and
// integers to floats; floats to integers only when they are whole). The
// answer to a tabular input is tabular when every output has one element
// per row.
func (m *Model) Predict(ctx context.Context, in *serving.Input) (out *serving.Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, lode.Internal(fmt.Errorf("panic: %v", p), "ONNX Runtime failed to run the model")
		}
	}()
	if in == nil {
		return nil, lode.Errorf(lode.EInvalid, "no input given")
	}
	var feeds []feed
	if in.Tabular {
		feeds, err = m.tabularFeeds(in)
	} else {
		feeds, err = m.tensorFeeds(in)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	values := make([]ort.Value, len(feeds))
	defer destroyAll(values)
	for i, f := range feeds {
		v, err := newValue(m.inputs[i].elem, f.shape, f.data)
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "input %q: %v", m.inputs[i].name, err)
		}
		values[i] = v
	}
	results, err := m.run(values)
	if err != nil {
		return nil, err
	}
	defer destroyAll(results)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows := -1
	if in.Tabular {
		rows = in.Rows()
	}
	if !m.tensorsOnly {
		return m.predictions(results, rows)
	}
	out = &serving.Output{Tensors: make([]serving.Tensor, len(results))}
	for i, v := range results {
		t, err := tensorFrom(m.outputs[i].name, v)
		if err != nil {
			return nil, lode.Internal(err, fmt.Sprintf("cannot read output %q", m.outputs[i].name))
		}
		out.Tensors[i] = t
	}
	if rows >= 0 && everyHas(out.Tensors, rows) {
		// MLflow answers a DataFrame with a DataFrame: one column per
		// output, each flattened.
		out.Tabular = true
		for i := range out.Tensors {
			out.Tensors[i].Shape = []int64{int64(rows)}
		}
	}
	return out, nil
}

func everyHas(ts []serving.Tensor, n int) bool {
	for i := range ts {
		if ts[i].Len() != n {
			return false
		}
	}
	return true
}

// run runs the session; the caller destroys the values returned.
func (m *Model) run(inputs []ort.Value) ([]ort.Value, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed || m.sess == nil {
		return nil, lode.Errorf(lode.EInvalidState, "the model is closed")
	}
	prealloc := !m.noScalars.Load()
	outs, used, err := m.allocScalars(prealloc)
	if err != nil {
		return nil, err
	}
	err = m.sess.Run(inputs, outs)
	if err == nil {
		return outs, nil
	}
	destroyAll(outs)
	if used {
		// An output declared without dimensions may have had an unknown
		// shape rather than none: run again, letting ONNX Runtime allocate
		// every output, and remember that this works.
		outs = make([]ort.Value, len(m.outputs))
		if err2 := m.sess.Run(inputs, outs); err2 == nil {
			m.noScalars.Store(true)
			return outs, nil
		}
		destroyAll(outs)
	}
	return nil, runError(err)
}

// allocScalars returns the output slice for a run, with the outputs
// declared as scalars preallocated when prealloc is set; used reports
// whether any was.
func (m *Model) allocScalars(prealloc bool) (outs []ort.Value, used bool, err error) {
	outs = make([]ort.Value, len(m.outputs))
	if !prealloc {
		return outs, false, nil
	}
	for i, p := range m.outputs {
		if !m.scalarOut[i] {
			continue
		}
		v, err := newScalar(p.elem)
		if err != nil {
			destroyAll(outs)
			return nil, false, lode.Internal(err, fmt.Sprintf("cannot allocate output %q", p.name))
		}
		outs[i], used = v, true
	}
	return outs, used, nil
}

// runError sorts ONNX Runtime's run errors: those that blame the input are
// the caller's (EInvalid, with ONNX Runtime's words), the rest internal.
func runError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "Error running network: ")
	for _, s := range []string{
		"Invalid rank for input",
		"Got invalid dimensions for input",
		"Unexpected input data type",
		"Non-zero status code returned while running",
		"Invalid input name",
	} {
		if strings.Contains(msg, s) {
			return lode.Errorf(lode.EInvalid, "the model cannot run on this input: %s", msg)
		}
	}
	return lode.Internal(err, "ONNX Runtime failed to run the model")
}

func destroyAll(values []ort.Value) {
	for i, v := range values {
		if v != nil {
			v.Destroy()
			values[i] = nil
		}
	}
}

// tensorFeeds maps named tensors to the inputs of the same name.
func (m *Model) tensorFeeds(in *serving.Input) ([]feed, error) {
	if len(in.Tensors) == 0 {
		return nil, lode.Errorf(lode.EInvalid, "no input tensors given; the model takes %s", m.inputList())
	}
	byInput := make([]*serving.Tensor, len(m.inputs))
	if len(m.inputs) == 1 && len(in.Tensors) == 1 {
		byInput[0] = &in.Tensors[0]
	} else {
		for i := range in.Tensors {
			t := &in.Tensors[i]
			if t.Name == "" {
				return nil, lode.Errorf(lode.EInvalid, "an unnamed tensor can feed only a model with one input; this model takes %d: %s; name each tensor",
					len(m.inputs), m.inputList())
			}
			j := m.inputIndex(t.Name)
			if j < 0 {
				return nil, lode.Errorf(lode.EInvalid, "the model has no input %q; it takes %s", t.Name, m.inputList())
			}
			if byInput[j] != nil {
				return nil, lode.Errorf(lode.EInvalid, "input %q is given more than once", t.Name)
			}
			byInput[j] = t
		}
	}
	feeds := make([]feed, len(m.inputs))
	for i, p := range m.inputs {
		t := byInput[i]
		if t == nil {
			return nil, lode.Errorf(lode.EInvalid, "missing input %q; the model takes %s", p.name, m.inputList())
		}
		if err := checkShape(t); err != nil {
			return nil, lode.Errorf(lode.EInvalid, "input %q: %v", p.name, err)
		}
		if !fits(t.Shape, p.dims) {
			return nil, lode.Errorf(lode.EInvalid, "input %q expects shape %s, got %s", p.name, shapeString(p.dims), shapeString(t.Shape))
		}
		data, err := convertData(t.Data, p.elem)
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "input %q: %v", p.name, err)
		}
		feeds[i] = feed{shape: t.Shape, data: data}
	}
	return feeds, nil
}

// tabularFeeds maps a data frame's columns to the inputs.
func (m *Model) tabularFeeds(in *serving.Input) ([]feed, error) {
	if len(in.Tensors) == 0 {
		return nil, lode.Errorf(lode.EInvalid, "the input has no columns; the model takes %s", m.inputList())
	}
	rows := in.Rows()
	for i := range in.Tensors {
		if n := in.Tensors[i].Len(); n != rows {
			return nil, lode.Errorf(lode.EInvalid, "column %q has %d values, column %q %d; every column needs one per row",
				in.Tensors[i].Name, n, in.Tensors[0].Name, rows)
		}
	}
	if len(m.inputs) == 1 {
		// DataFrame.values: the columns side by side, a row per row.
		p := m.inputs[0]
		cols := make([]any, len(in.Tensors))
		for i := range in.Tensors {
			d, err := convertData(in.Tensors[i].Data, p.elem)
			if err != nil {
				return nil, lode.Errorf(lode.EInvalid, "input %q, column %q: %v", p.name, in.Tensors[i].Name, err)
			}
			cols[i] = d
		}
		shape := []int64{int64(rows), int64(len(cols))}
		if len(p.dims) == 1 && len(cols) == 1 {
			// One column feeds a 1-D input as it is (MLflow would pass a
			// [rows, 1] matrix, which such a model refuses).
			shape = shape[:1]
		}
		if !fits(shape, p.dims) {
			return nil, lode.Errorf(lode.EInvalid, "input %q expects shape %s; %d columns of %d rows make %s",
				p.name, shapeString(p.dims), len(cols), rows, shapeString(shape))
		}
		return []feed{{shape: shape, data: stackColumns(cols, rows)}}, nil
	}
	feeds := make([]feed, len(m.inputs))
	for i, p := range m.inputs {
		var col *serving.Tensor
		for j := range in.Tensors {
			if in.Tensors[j].Name == p.name {
				col = &in.Tensors[j]
				break
			}
		}
		if col == nil {
			return nil, lode.Errorf(lode.EInvalid, "missing column %q: the model has %d inputs (%s) and takes each from the column of the same name",
				p.name, len(m.inputs), m.inputList())
		}
		shape := []int64{int64(rows)}
		if len(p.dims) == 2 && (p.dims[1] == 1 || p.dims[1] == -1) {
			// A [N, 1] input takes the column as a one-column matrix.
			shape = append(shape, 1)
		}
		if !fits(shape, p.dims) {
			return nil, lode.Errorf(lode.EInvalid, "input %q expects shape %s; column %q gives %s",
				p.name, shapeString(p.dims), p.name, shapeString(shape))
		}
		data, err := convertData(col.Data, p.elem)
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "input %q: %v", p.name, err)
		}
		feeds[i] = feed{shape: shape, data: data}
	}
	return feeds, nil
}

func (m *Model) inputIndex(name string) int {
	for i, p := range m.inputs {
		if p.name == name {
			return i
		}
	}
	return -1
}

// inputList describes the inputs, as "x (FP32 [-1])".
func (m *Model) inputList() string {
	parts := make([]string, len(m.inputs))
	for i, p := range m.inputs {
		parts[i] = fmt.Sprintf("%s (%s %s)", p.name, m.info.Inputs[i].DType, shapeString(p.dims))
	}
	return strings.Join(parts, ", ")
}

// checkShape checks that a tensor's data fills its shape.
func checkShape(t *serving.Tensor) error {
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("shape %s has a negative dimension", shapeString(t.Shape))
		}
	}
	if t.Data == nil {
		return fmt.Errorf("no data")
	}
	if n := int64(t.Len()); n != serving.Elements(t.Shape) {
		return fmt.Errorf("%d values do not fill shape %s (%d)", n, shapeString(t.Shape), serving.Elements(t.Shape))
	}
	return nil
}

// fits reports whether a shape matches declared dims (-1 matches any
// size). Dims without dimensions match any shape: ONNX Runtime reports an
// unknown shape that way, and checks scalars itself.
func fits(shape, dims []int64) bool {
	if len(dims) == 0 {
		return true
	}
	if len(shape) != len(dims) {
		return false
	}
	for i, d := range dims {
		if d >= 0 && shape[i] != d {
			return false
		}
	}
	return true
}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
