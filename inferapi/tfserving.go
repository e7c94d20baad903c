package inferapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// TensorFlow Serving's REST API (tensorflow.org/tfx/serving/api_rest).

// tfTarget is the model a /v1/models path names.
type tfTarget struct {
	name, version, label string
}

func (h *Handler) routeTF(w http.ResponseWriter, r *http.Request, c *call, rest string) {
	tail, ok := strings.CutPrefix(rest, "models/")
	if !ok {
		h.notFound(w, r, c)
		return
	}
	segs := strings.Split(tail, "/")
	verb := ""
	last := segs[len(segs)-1]
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		verb, segs[len(segs)-1] = last[i+1:], last[:i]
	}
	t := tfTarget{name: segs[0]}
	segs = segs[1:]
	if len(segs) >= 2 && segs[0] == "versions" {
		t.version, segs = segs[1], segs[2:]
		if t.version == "" {
			h.notFound(w, r, c)
			return
		}
	} else if len(segs) >= 2 && segs[0] == "labels" {
		t.label, segs = segs[1], segs[2:]
		if t.label == "" {
			h.notFound(w, r, c)
			return
		}
	}
	metadata := len(segs) == 1 && segs[0] == "metadata" && verb == ""
	if metadata {
		segs = nil
	}
	if t.name == "" || len(segs) > 0 {
		h.notFound(w, r, c)
		return
	}
	c.model, c.version = t.name, t.version
	switch {
	case metadata:
		if h.allow(w, r, c, http.MethodGet) {
			h.tfMetadata(w, r, c, t)
		}
	case verb == "":
		if h.allow(w, r, c, http.MethodGet) {
			h.tfStatus(w, r, c, t)
		}
	case verb == "predict" || verb == "classify" || verb == "regress":
		if h.allow(w, r, c, http.MethodPost) {
			h.tfInfer(w, r, c, t, verb)
		}
	default:
		h.notFound(w, r, c)
	}
}

type tfVersionStatus struct {
	Version string `json:"version"`
	State   string `json:"state"`
	Status  struct {
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	} `json:"status"`
}

// tfStatus answers GetModelStatus: the versions of a model and their
// states, or the one a version or label names.
func (h *Handler) tfStatus(w http.ResponseWriter, r *http.Request, c *call, t tfTarget) {
	if err := h.allowed(c, t.name); err != nil {
		h.fail(w, r, c, err)
		return
	}
	vs, err := h.cat.Status(t.name)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	want := t.version
	if t.label != "" {
		ep, release, err := h.lookup(c, t.name, "", t.label)
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		want = ep.Version
		release()
	}
	out := []tfVersionStatus{}
	for _, v := range vs {
		if want != "" && v.Version != want {
			continue
		}
		s := tfVersionStatus{Version: v.Version, State: string(v.State)}
		s.Status.ErrorCode, s.Status.ErrorMessage = "OK", v.Error
		if v.Error != "" || v.State == serving.StateFailed {
			s.Status.ErrorCode = "UNKNOWN"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		if want != "" {
			h.fail(w, r, c, lode.Errorf(lode.ENotFound, "Model '%s' has no version %s.", t.name, want))
		} else {
			h.fail(w, r, c, lode.Errorf(lode.ENotFound, "Could not find any versions of model '%s'.", t.name))
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_version_status": out})
}

// tfDTypes names Lode's datatypes as TensorFlow does.
var tfDTypes = map[serving.DType]string{
	serving.Bool: "DT_BOOL", serving.Int8: "DT_INT8", serving.Int16: "DT_INT16",
	serving.Int32: "DT_INT32", serving.Int64: "DT_INT64", serving.Uint8: "DT_UINT8",
	serving.Uint16: "DT_UINT16", serving.Uint32: "DT_UINT32", serving.Uint64: "DT_UINT64",
	serving.FP32: "DT_FLOAT", serving.FP64: "DT_DOUBLE", serving.Bytes: "DT_STRING",
}

type tfDim struct {
	Size string `json:"size"`
	Name string `json:"name"`
}

type tfShape struct {
	Dim         []tfDim `json:"dim"`
	UnknownRank bool    `json:"unknown_rank"`
}

type tfTensorInfo struct {
	DType       string  `json:"dtype"`
	TensorShape tfShape `json:"tensor_shape"`
	Name        string  `json:"name"`
}

func tfTensorInfos(specs []serving.TensorSpec) map[string]tfTensorInfo {
	out := make(map[string]tfTensorInfo, len(specs))
	for i, s := range specs {
		name := s.Name
		if name == "" {
			name = "output_" + strconv.Itoa(i)
		}
		dt, ok := tfDTypes[s.DType]
		if !ok {
			dt = "DT_INVALID"
		}
		ti := tfTensorInfo{DType: dt, Name: name, TensorShape: tfShape{Dim: []tfDim{}}}
		if s.Shape == nil {
			ti.TensorShape.UnknownRank = true
		}
		for _, d := range s.Shape {
			ti.TensorShape.Dim = append(ti.TensorShape.Dim, tfDim{Size: strconv.FormatInt(d, 10)})
		}
		out[name] = ti
	}
	return out
}

// specs returns a model's inputs and outputs: what the runtime reports,
// else its MLflow signature.
func specs(ep *serving.Endpoint) (in, out []serving.TensorSpec) {
	info := ep.Info()
	in, out = info.Inputs, info.Outputs
	if sig := ep.Signature(); sig != nil {
		if len(in) == 0 {
			in = sig.Inputs
		}
		if len(out) == 0 {
			out = sig.Outputs
		}
	}
	return in, out
}

// tfMetadata answers GetModelMetadata with one "serving_default"
// signature.
func (h *Handler) tfMetadata(w http.ResponseWriter, r *http.Request, c *call, t tfTarget) {
	ep, release, err := h.lookup(c, t.name, t.version, t.label)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	defer release()
	in, out := specs(ep)
	sig := map[string]any{
		"inputs":      tfTensorInfos(in),
		"outputs":     tfTensorInfos(out),
		"method_name": "tensorflow/serving/predict",
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model_spec": map[string]string{"name": t.name, "signature_name": "", "version": ep.Version},
		"metadata": map[string]any{"signature_def": map[string]any{
			"signature_def": map[string]any{"serving_default": sig},
		}},
	})
}

// tfInfer answers :predict, :classify and :regress.
func (h *Handler) tfInfer(w http.ResponseWriter, r *http.Request, c *call, t tfTarget, verb string) {
	c.infer = true
	if err := h.allowed(c, t.name); err != nil {
		h.fail(w, r, c, err)
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	ep, release, err := h.lookup(c, t.name, t.version, t.label)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	defer release()
	req, err := decodeTF(body, verb)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	adaptTabular(req.in, ep)
	out, err := predict(r.Context(), ep, req.in)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	var b []byte
	switch verb {
	case "predict":
		b, err = appendTFPredict(make([]byte, 0, 256), out, req.rows)
	case "classify", "regress":
		var ts []serving.Tensor
		if ts, _, err = outputTensors(ep, out); err == nil {
			if verb == "classify" {
				b, err = appendClassify(nil, ts, req.examples)
			} else {
				b, err = appendRegress(nil, ts, req.examples)
			}
		}
	}
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	writeBody(w, http.StatusOK, typeJSON, b)
}

// tfRequest is a decoded TF Serving request.
type tfRequest struct {
	in       *serving.Input
	rows     bool // row format ("instances"), else columnar ("inputs")
	examples int  // the number of examples to classify or regress
}

// decodeTF decodes the body of :predict ({"instances"} or {"inputs"}) or
// of :classify and :regress ({"examples", "context"}).
func decodeTF(body []byte, verb string) (*tfRequest, error) {
	v, err := parseJSON(body)
	if err != nil {
		return nil, badRequest("The request body is not valid JSON: %v", err)
	}
	o, ok := v.(*object)
	if !ok {
		return nil, badRequest("The request body must be a JSON object.")
	}
	if s, ok := o.get("signature_name"); ok && s != nil {
		name, _ := s.(string)
		if name != "" && name != "serving_default" {
			return nil, badRequest("Serving signature name: %q not found in signature def; the model has \"serving_default\" only.", name)
		}
	}
	if verb != "predict" {
		return decodeExamples(o)
	}
	inst, hasInst := o.get("instances")
	inputs, hasInputs := o.get("inputs")
	switch {
	case hasInst && hasInputs:
		return nil, badRequest(`The request can not contain both "instances" and "inputs".`)
	case !hasInst && !hasInputs:
		return nil, badRequest(`Missing "instances" or "inputs" key.`)
	}
	req := &tfRequest{rows: hasInst}
	val := inputs
	if hasInst {
		if _, ok := inst.([]any); !ok {
			if _, ok := inst.(*packed); !ok {
				return nil, badRequest(`"instances" must be a list.`)
			}
		}
		val = inst
	}
	if val, err = unb64(val); err != nil {
		return nil, err
	}
	if req.in, err = decodeTensorValue(val); err != nil {
		return nil, err
	}
	return req, nil
}

// decodeExamples reads :classify and :regress requests: each example is
// an object of feature to value (a one-element list counts as its value),
// with the context's features added to each. They make a data frame.
func decodeExamples(o *object) (*tfRequest, error) {
	ev, ok := o.get("examples")
	if !ok {
		return nil, badRequest(`Missing "examples" key.`)
	}
	examples, ok := ev.([]any)
	if !ok {
		return nil, badRequest(`"examples" must be a non-empty list of objects.`)
	}
	var ctx *object
	if cv, ok := o.get("context"); ok && cv != nil {
		if ctx, ok = cv.(*object); !ok {
			return nil, badRequest(`"context" must be an object.`)
		}
	}
	rows := make([]any, len(examples))
	for i, e := range examples {
		eo, ok := e.(*object)
		if !ok {
			return nil, badRequest("Example %d is not an object.", i)
		}
		row := &object{}
		if ctx != nil {
			for j, k := range ctx.keys {
				row.set(k, ctx.vals[j])
			}
		}
		for j, k := range eo.keys {
			row.set(k, eo.vals[j])
		}
		for j, v := range row.vals {
			if v, err := unb64(v); err != nil {
				return nil, err
			} else if p, ok := v.(*packed); ok && len(p.shape) == 1 && p.len() == 1 {
				row.vals[j] = p.at(0)
			} else {
				row.vals[j] = v
			}
		}
		rows[i] = row
	}
	in, err := decodeRecords(rows, false)
	if err != nil {
		return nil, err
	}
	return &tfRequest{in: in, rows: true, examples: len(rows)}, nil
}

// appendTFPredict writes :predict's answer. In the row format a lone
// output is a list with one entry per instance and several are a list of
// objects of output name to value; in the columnar format a lone output is
// the value of "outputs" and several are an object of them. A Python
// model's predictions are written as they are.
func appendTFPredict(b []byte, out *serving.Output, rows bool) ([]byte, error) {
	key := `{"outputs":`
	if rows {
		key = `{"predictions":`
	}
	b = append(b, key...)
	switch {
	case out.Predictions != nil:
		b = append(b, out.Predictions...)
	case len(out.Tensors) == 0:
		return nil, lode.Errorf(lode.EInternal, "The model returned no outputs.")
	case len(out.Tensors) == 1:
		b = serving.AppendJSONTensor(b, &out.Tensors[0])
	case rows:
		var err error
		if b, err = appendRecords(b, out.Tensors); err != nil {
			return nil, err
		}
	default:
		b = appendByName(b, out.Tensors)
	}
	return append(b, '}'), nil
}

func isFloat(d serving.DType) bool { return d == serving.FP32 || d == serving.FP64 }

func isNumeric(d serving.DType) bool {
	return isFloat(d) || (dtypeSize(d) > 0 && d != serving.Bool)
}

// perExample reports whether t holds k values for each of n examples
// (shape [n, k], or [n] for k = 1).
func perExample(t *serving.Tensor, n int) (k int, ok bool) {
	shape := t.Dims()
	switch {
	case len(shape) == 1 && int(shape[0]) == n:
		return 1, true
	case len(shape) == 2 && int(shape[0]) == n:
		return int(shape[1]), true
	}
	return 0, false
}

func floatAt(t *serving.Tensor, i int) (float64, int) {
	switch d := t.Data.(type) {
	case []float32:
		return float64(d[i]), 32
	case []float64:
		return d[i], 64
	case []int8:
		return float64(d[i]), 64
	case []int16:
		return float64(d[i]), 64
	case []int32:
		return float64(d[i]), 64
	case []int64:
		return float64(d[i]), 64
	case []uint8:
		return float64(d[i]), 64
	case []uint16:
		return float64(d[i]), 64
	case []uint32:
		return float64(d[i]), 64
	case []uint64:
		return float64(d[i]), 64
	}
	return 0, 64
}

// labelAt writes element i of t as a class label string.
func labelAt(b []byte, t *serving.Tensor, i int) []byte {
	if s, ok := t.Data.([]string); ok {
		return serving.AppendJSONString(b, s[i])
	}
	e := serving.AppendJSONElem(nil, t, i)
	return serving.AppendJSONString(b, string(e))
}

// appendClassify writes :classify's {"results": [[[label, score], ...],
// ...]} from a model's outputs, one list of pairs per example:
//
//   - a float output of shape [n, k] (or [n]) gives the scores of k
//     classes, preferring one named like "prob" or "score"; their labels
//     come from a string or integer output of the same shape when there is
//     one, else they are the class indices "0" … "k-1";
//   - else several float outputs of shape [n] (a data frame of class
//     probabilities) give one class each, labelled with the output's name;
//   - else an integer, string or boolean output of shape [n] (or [n, k])
//     gives the predicted class(es), each with score 1.0.
func appendClassify(b []byte, ts []serving.Tensor, n int) ([]byte, error) {
	var scores, labels *serving.Tensor
	var columns []*serving.Tensor
	k := 0
	for i := range ts {
		t := &ts[i]
		kk, ok := perExample(t, n)
		if !ok || !isFloat(t.DType) {
			continue
		}
		if len(t.Dims()) == 1 {
			columns = append(columns, t)
		}
		name := strings.ToLower(t.Name)
		if scores == nil || (strings.Contains(name, "prob") || strings.Contains(name, "score")) && !strings.Contains(strings.ToLower(scores.Name), "prob") && !strings.Contains(strings.ToLower(scores.Name), "score") {
			scores, k = t, kk
		}
	}
	if len(columns) > 1 && len(columns) == countFloat(ts) {
		// A data frame of per-class scores.
		b = append(b, `{"results":[`...)
		for e := range n {
			if e > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for j, t := range columns {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '[')
				b = serving.AppendJSONString(b, t.Name)
				b = append(b, ',')
				v, bits := floatAt(t, e)
				b = serving.AppendJSONFloat(b, v, bits)
				b = append(b, ']')
			}
			b = append(b, ']')
		}
		return append(b, "]}"...), nil
	}
	if scores == nil {
		// Predicted classes only.
		for i := range ts {
			if kk, ok := perExample(&ts[i], n); ok && !isFloat(ts[i].DType) {
				labels, k = &ts[i], kk
				break
			}
		}
		if labels == nil {
			return nil, badRequest("The model's outputs are not classes or class scores for each of the %d examples; use :predict.", n)
		}
	} else {
		for i := range ts {
			if kk, ok := perExample(&ts[i], n); ok && kk == k && !isFloat(ts[i].DType) && ts[i].DType != serving.Bool {
				labels = &ts[i]
				break
			}
		}
	}
	b = append(b, `{"results":[`...)
	for e := range n {
		if e > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j := range k {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			if labels != nil {
				b = labelAt(b, labels, e*k+j)
			} else {
				b = serving.AppendJSONString(b, strconv.Itoa(j))
			}
			b = append(b, ',')
			if scores != nil {
				v, bits := floatAt(scores, e*k+j)
				b = serving.AppendJSONFloat(b, v, bits)
			} else {
				b = append(b, "1.0"...)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, "]}"...), nil
}

func countFloat(ts []serving.Tensor) int {
	n := 0
	for i := range ts {
		if isFloat(ts[i].DType) {
			n++
		}
	}
	return n
}

// appendRegress writes :regress's {"results": [value, ...]}: the first
// numeric output with one value per example.
func appendRegress(b []byte, ts []serving.Tensor, n int) ([]byte, error) {
	for i := range ts {
		t := &ts[i]
		if k, ok := perExample(t, n); !ok || k != 1 || !isNumeric(t.DType) {
			continue
		}
		b = append(b, `{"results":[`...)
		for e := range n {
			if e > 0 {
				b = append(b, ',')
			}
			v, bits := floatAt(t, e)
			b = serving.AppendJSONFloat(b, v, bits)
		}
		return append(b, "]}"...), nil
	}
	return nil, badRequest("The model has no numeric output with one value for each of the %d examples; use :predict.", n)
}
