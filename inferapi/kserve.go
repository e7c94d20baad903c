package inferapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// KServe's V2 / Open Inference Protocol over REST, with Triton's binary
// tensor data extension (tritonclient[http] sends binary tensors by
// default).

// headerLength is the binary extension's header: the length of the JSON
// part of a body that continues with raw tensor data.
const headerLength = "Inference-Header-Content-Length"

func (h *Handler) routeKServe(w http.ResponseWriter, r *http.Request, c *call, rest string) {
	switch rest {
	case "", "/":
		if h.allow(w, r, c, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"name": "lode", "version": h.version, "extensions": []string{"binary_tensor_data"}})
		}
		return
	case "/health/live":
		if h.allow(w, r, c, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]bool{"live": true})
		}
		return
	case "/health/ready":
		if h.allow(w, r, c, http.MethodGet) {
			if !h.cat.Ready() {
				h.fail(w, r, c, lode.Errorf(lode.EUnavailable, "Some models are not ready yet."))
				return
			}
			writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
		}
		return
	}
	tail, ok := strings.CutPrefix(rest, "/models/")
	if !ok {
		h.notFound(w, r, c)
		return
	}
	segs := strings.Split(tail, "/")
	name, version := segs[0], ""
	segs = segs[1:]
	if len(segs) >= 2 && segs[0] == "versions" {
		version, segs = segs[1], segs[2:]
	}
	action := ""
	if len(segs) == 1 {
		action = segs[0]
	}
	if name == "" || len(segs) > 1 || (len(segs) == 1 && action == "") {
		h.notFound(w, r, c)
		return
	}
	c.model, c.version = name, version
	switch action {
	case "":
		if h.allow(w, r, c, http.MethodGet) {
			h.kserveMetadata(w, r, c, name, version)
		}
	case "ready":
		if h.allow(w, r, c, http.MethodGet) {
			// 200 when ready; 404 for unknown models, 503 while loading
			// (tritonclient's is_model_ready reads any other status as
			// not ready, as the protocol's "4xx" allows).
			_, release, err := h.lookup(c, name, version, "")
			if err != nil {
				h.fail(w, r, c, err)
				return
			}
			release()
			writeJSON(w, http.StatusOK, map[string]any{"name": name, "ready": true})
		}
	case "infer":
		if h.allow(w, r, c, http.MethodPost) {
			h.kserveInfer(w, r, c, name, version)
		}
	default:
		h.notFound(w, r, c)
	}
}

type kTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func kTensorMetas(specs []serving.TensorSpec) []kTensorMeta {
	out := make([]kTensorMeta, len(specs))
	for i, s := range specs {
		out[i] = kTensorMeta{Name: s.Name, Datatype: string(s.DType), Shape: s.Shape}
		if out[i].Name == "" {
			out[i].Name = "output_" + strconv.Itoa(i)
		}
		if out[i].Datatype == "" {
			// Columns of lists or objects: Python reads them as objects.
			out[i].Datatype = string(serving.Bytes)
		}
		if out[i].Shape == nil {
			out[i].Shape = []int64{}
		}
	}
	return out
}

// platform names a runtime as KServe's model metadata does.
func platform(runtime string) string {
	switch runtime {
	case "onnxruntime":
		return "onnxruntime_onnx"
	case "python":
		return "mlflow_pyfunc"
	}
	return runtime
}

func (h *Handler) kserveMetadata(w http.ResponseWriter, r *http.Request, c *call, name, version string) {
	ep, release, err := h.lookup(c, name, version, "")
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	defer release()
	versions := []string{}
	if vs, err := h.cat.Status(name); err == nil { // lookup has authorized it
		for _, v := range vs {
			if v.State == serving.StateAvailable {
				versions = append(versions, v.Version)
			}
		}
	}
	if len(versions) == 0 {
		versions = append(versions, ep.Version)
	}
	in, out := specs(ep)
	writeJSON(w, http.StatusOK, map[string]any{
		"name": name, "versions": versions, "platform": platform(ep.Info().Runtime),
		"inputs": kTensorMetas(in), "outputs": kTensorMetas(out),
	})
}

// kRequest is a decoded inference request.
type kRequest struct {
	id      string
	in      *serving.Input
	outputs []kOutput // the outputs asked for, in order; none: all
	binary  bool      // binary_data_output: all outputs in binary
}

type kOutput struct {
	name   string
	binary bool
}

func (h *Handler) kserveInfer(w http.ResponseWriter, r *http.Request, c *call, name, version string) {
	c.infer = true
	if err := h.allowed(c, name); err != nil {
		h.fail(w, r, c, err)
		return
	}
	body, err := h.readBody(w, r)
	if err == nil {
		body, err = h.decompress(r, body)
	}
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	ep, release, err := h.lookup(c, name, version, "")
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	defer release()
	req, err := decodeKServe(body, r.Header.Get(headerLength))
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
	ts, _, err := outputTensors(ep, out)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	b, jsonLen, binary, err := encodeKServe(name, ep.Version, req, ts)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	if binary {
		w.Header().Set(headerLength, strconv.Itoa(jsonLen))
		writeBody(w, http.StatusOK, "application/octet-stream", b)
		return
	}
	writeBody(w, http.StatusOK, typeJSON, b)
}

// decodeKServe decodes an inference request. headerLen is the
// Inference-Header-Content-Length header: when set, the JSON is that many
// bytes and raw tensor data follows, in the order of the inputs that carry
// parameters.binary_data_size.
func decodeKServe(body []byte, headerLen string) (*kRequest, error) {
	js, bin := body, []byte(nil)
	if headerLen != "" {
		n, err := strconv.Atoi(strings.TrimSpace(headerLen))
		if err != nil || n < 0 || n > len(body) {
			return nil, badRequest("%s %q does not fit the body of %d bytes", headerLength, headerLen, len(body))
		}
		js, bin = body[:n], body[n:]
	}
	v, err := parseJSON(js)
	if err != nil {
		return nil, badRequest("The inference request is not valid JSON: %v", err)
	}
	o, ok := v.(*object)
	if !ok {
		return nil, badRequest("The inference request must be a JSON object.")
	}
	req := &kRequest{in: &serving.Input{}}
	if id, ok := o.get("id"); ok && id != nil {
		if req.id, ok = id.(string); !ok {
			return nil, badRequest(`"id" must be a string`)
		}
	}
	if p, err := params(o, "the request"); err != nil {
		return nil, err
	} else if p != nil {
		if req.binary, err = boolParam(p, "binary_data_output"); err != nil {
			return nil, err
		}
		m := plain(p).(map[string]any)
		delete(m, "binary_data_output")
		if len(m) > 0 {
			req.in.Params = m
		}
	}
	iv, _ := o.get("inputs")
	inputs, ok := iv.([]any)
	if !ok {
		return nil, badRequest(`"inputs" must be a non-empty list of input tensors`)
	}
	seen := map[string]bool{}
	for i, e := range inputs {
		inp, ok := e.(*object)
		if !ok {
			return nil, badRequest("input %d is not an object", i)
		}
		name, _ := getString(inp, "name")
		if name == "" {
			return nil, badRequest(`input %d has no "name"`, i)
		}
		if seen[name] {
			return nil, badRequest("input '%s' is given twice", name)
		}
		seen[name] = true
		dt, _ := getString(inp, "datatype")
		if dt == "" {
			return nil, badRequest(`input '%s' has no "datatype"`, name)
		}
		d := serving.DType(dt)
		if dtypeSize(d) < 0 {
			return nil, badRequest("input '%s' has datatype %q, which Lode does not support", name, dt)
		}
		sv, _ := inp.get("shape")
		sp, ok := sv.(*packed)
		if !ok || len(sp.shape) != 1 || (sp.kind != kInt && sp.kind != kNone) {
			return nil, badRequest(`input '%s' needs a "shape": a list of integers`, name)
		}
		shape := append([]int64{}, sp.ints...)
		n, err := checkShape(name, shape)
		if err != nil {
			return nil, err
		}
		ip, err := params(inp, "input '"+name+"'")
		if err != nil {
			return nil, err
		}
		data, hasData := inp.get("data")
		var size int64 = -1
		if ip != nil {
			if sv, ok := ip.get("binary_data_size"); ok {
				s, ok := sv.(int64)
				if !ok || s < 0 {
					return nil, badRequest("input '%s': binary_data_size must be a non-negative integer", name)
				}
				size = s
			}
		}
		var t serving.Tensor
		switch {
		case size >= 0 && hasData:
			return nil, badRequest(`input '%s' has both "data" and binary_data_size`, name)
		case size >= 0:
			if size > int64(len(bin)) {
				return nil, badRequest("input '%s' claims %d bytes of binary data; %d remain", name, size, len(bin))
			}
			t, err = fromBinary(name, d, shape, n, bin[:size])
			bin = bin[size:]
		case !hasData:
			return nil, badRequest(`input '%s' has no "data"`, name)
		default:
			var p *packed
			if p, err = flatten(data); err == nil {
				if p.len() != n {
					err = badRequest("input '%s' has %d values; shape %v holds %d", name, p.len(), shape, n)
				} else {
					t, err = castPacked(name, d, shape, p)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		req.in.Tensors = append(req.in.Tensors, t)
	}
	if len(bin) > 0 {
		return nil, badRequest("%d bytes of binary data follow the inputs unclaimed", len(bin))
	}
	if ov, ok := o.get("outputs"); ok && ov != nil {
		outs, ok := ov.([]any)
		if !ok {
			if p, isPacked := ov.(*packed); !isPacked || p.len() != 0 {
				return nil, badRequest(`"outputs" must be a list of requested outputs`)
			}
		}
		for i, e := range outs {
			oo, ok := e.(*object)
			if !ok {
				return nil, badRequest("requested output %d is not an object", i)
			}
			name, _ := getString(oo, "name")
			if name == "" {
				return nil, badRequest(`requested output %d has no "name"`, i)
			}
			out := kOutput{name: name, binary: req.binary}
			if p, err := params(oo, "output '"+name+"'"); err != nil {
				return nil, err
			} else if p != nil {
				if _, ok := p.get("binary_data"); ok {
					if out.binary, err = boolParam(p, "binary_data"); err != nil {
						return nil, err
					}
				}
				if _, ok := p.get("classification"); ok {
					return nil, badRequest("output '%s': the classification extension is not supported", name)
				}
			}
			req.outputs = append(req.outputs, out)
		}
	}
	return req, nil
}

func getString(o *object, key string) (string, bool) {
	v, ok := o.get(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// params returns an object's "parameters" object, nil when it has none.
func params(o *object, what string) (*object, error) {
	v, ok := o.get("parameters")
	if !ok || v == nil {
		return nil, nil
	}
	p, ok := v.(*object)
	if !ok {
		return nil, badRequest(`the "parameters" of %s must be an object`, what)
	}
	return p, nil
}

func boolParam(p *object, key string) (bool, error) {
	v, ok := p.get(key)
	if !ok || v == nil {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, badRequest("parameter %s must be true or false", key)
	}
	return b, nil
}

// encodeKServe writes the inference response; outputs asked for in
// binary follow the JSON, whose length it returns with whether any did.
func encodeKServe(model, version string, req *kRequest, ts []serving.Tensor) ([]byte, int, bool, error) {
	type sel struct {
		t      *serving.Tensor
		name   string
		binary bool
	}
	var outs []sel
	if len(req.outputs) == 0 {
		for i := range ts {
			outs = append(outs, sel{&ts[i], outputName(&ts[i], i), req.binary})
		}
	} else {
		for _, o := range req.outputs {
			found := false
			for i := range ts {
				if outputName(&ts[i], i) == o.name {
					outs = append(outs, sel{&ts[i], o.name, o.binary})
					found = true
					break
				}
			}
			if !found {
				names := make([]string, len(ts))
				for i := range ts {
					names[i] = outputName(&ts[i], i)
				}
				return nil, 0, false, badRequest("unexpected inference output '%s' for model '%s'; it has outputs %s", o.name, model, quoteList(names))
			}
		}
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"model_name":`...)
	b = serving.AppendJSONString(b, model)
	b = append(b, `,"model_version":`...)
	b = serving.AppendJSONString(b, version)
	if req.id != "" {
		b = append(b, `,"id":`...)
		b = serving.AppendJSONString(b, req.id)
	}
	b = append(b, `,"outputs":[`...)
	var bin []byte
	binary := false
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = serving.AppendJSONString(b, o.name)
		b = append(b, `,"datatype":`...)
		b = serving.AppendJSONString(b, string(o.t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range o.t.Dims() {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, ']')
		if o.binary {
			binary = true
			n := len(bin)
			bin = appendBinary(bin, o.t)
			b = append(b, `,"parameters":{"binary_data_size":`...)
			b = strconv.AppendInt(b, int64(len(bin)-n), 10)
			b = append(b, '}')
		} else {
			b = append(b, `,"data":`...)
			b = appendFlat(b, o.t)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	jsonLen := len(b)
	return append(b, bin...), jsonLen, binary, nil
}
