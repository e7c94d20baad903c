package inferapi

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/serving"
)

// MLflow's scoring protocol, as mlflow/pyfunc/scoring_server serves it.

const (
	typeJSON    = "application/json"
	typeCSV     = "text/csv"
	typeParquet = "application/vnd.apache.parquet"
)

// requiredFormat is MLflow's own wording, so that clients see the message
// `mlflow models serve` gives.
const requiredFormat = "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"

var formatKeys = []string{"dataframe_split", "dataframe_records", "instances", "inputs"}

func (h *Handler) routeMLflow(w http.ResponseWriter, r *http.Request, c *call, path string) {
	if h.standalone != "" {
		switch path {
		case "/invocations":
			c.model = h.standalone
			if h.allow(w, r, c, http.MethodPost) {
				h.invocations(w, r, c, h.standalone)
			}
			return
		case "/ping", "/health":
			if h.allow(w, r, c, http.MethodGet) {
				if !h.cat.Ready() {
					h.fail(w, r, c, lode.Errorf(lode.EUnavailable, "The model is not ready yet."))
					return
				}
				writeBody(w, http.StatusOK, typeJSON, []byte("\n"))
			}
			return
		case "/version":
			if h.allow(w, r, c, http.MethodGet) {
				writeBody(w, http.StatusOK, typeJSON, []byte(h.mlflowVer))
			}
			return
		}
	}
	if rest, ok := strings.CutPrefix(path, "/endpoints/"); ok {
		name, action, _ := strings.Cut(rest, "/")
		if name != "" {
			switch action {
			case "invocations":
				c.model = name
				if h.allow(w, r, c, http.MethodPost) {
					h.invocations(w, r, c, name)
				}
				return
			case "ping":
				c.model = name
				if h.allow(w, r, c, http.MethodGet) {
					_, release, err := h.lookup(c, name, "", "")
					if err != nil {
						h.fail(w, r, c, err)
						return
					}
					release()
					writeBody(w, http.StatusOK, typeJSON, []byte("\n"))
				}
				return
			}
		}
	}
	h.notFound(w, r, c)
}

// invocations scores one request: /invocations in MLflow's protocol.
func (h *Handler) invocations(w http.ResponseWriter, r *http.Request, c *call, name string) {
	c.infer = true
	if err := h.allowed(c, name); err != nil {
		h.fail(w, r, c, err)
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	ep, release, err := h.lookup(c, name, "", "")
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	defer release()
	ct := r.Header.Get("Content-Type")
	in, err := decodeMLflow(body, ct)
	if err != nil {
		// A Python model parses the body itself; when nothing else would
		// check the decoded tensors, what Lode cannot decode (parquet,
		// nested columns, chat messages) is still the model's to read.
		var je *jsonError
		var he *httpError
		if !rawOnly(ep) || errors.As(err, &je) || (errors.As(err, &he) && err != errParquet) {
			h.fail(w, r, c, err)
			return
		}
		in = &serving.Input{Raw: body, RawType: ct}
	}
	adaptTabular(in, ep)
	out, err := predict(r.Context(), ep, in)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	b, err := appendPredictions(make([]byte, 0, 256), out)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	writeBody(w, http.StatusOK, typeJSON, b)
}

// rawOnly reports whether a model may get a request as its raw body
// alone: a Python model with no input schema to check.
func rawOnly(ep *serving.Endpoint) bool {
	info := ep.Info()
	if info.Runtime != "python" {
		return false
	}
	if sig := ep.Signature(); sig != nil && len(sig.Inputs) > 0 {
		return false
	}
	return len(info.Inputs) == 0 || info.Tabular
}

// appendPredictions writes MLflow's {"predictions": ...}: a Python model's
// predictions as they are, a data frame as records, a lone tensor as
// nested lists and several as an object of them.
func appendPredictions(b []byte, out *serving.Output) ([]byte, error) {
	b = append(b, `{"predictions":`...)
	switch {
	case out.Predictions != nil:
		b = append(b, bytes.TrimSpace(out.Predictions)...)
	case out.Tabular:
		var err error
		if b, err = appendRecords(b, out.Tensors); err != nil {
			return nil, err
		}
	case len(out.Tensors) == 1:
		b = serving.AppendJSONTensor(b, &out.Tensors[0])
	default:
		b = appendByName(b, out.Tensors)
	}
	return append(b, '}'), nil
}

func unsupportedMedia(msg string) error {
	return &httpError{status: http.StatusUnsupportedMediaType, code: lode.EBadRequest, msg: msg}
}

var errParquet = unsupportedMedia("Lode reads " + typeParquet + " only for Python models without an input signature; send JSON or CSV.")

// mediaType checks a scoring request's content type as MLflow does.
func mediaType(ct string) (string, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", unsupportedMedia(fmt.Sprintf("This predictor only supports the following content types: Types: ['%s', '%s']. Got '%s'.", typeCSV, typeJSON, ct))
	}
	for k, v := range params {
		if k != "charset" {
			return "", unsupportedMedia(fmt.Sprintf("Unrecognized content type parameters: %s.", k))
		}
		if !strings.EqualFold(v, "utf-8") {
			return "", unsupportedMedia("The scoring server only supports UTF-8")
		}
	}
	switch mt {
	case typeJSON, typeCSV:
		return mt, nil
	case typeParquet:
		return "", errParquet
	}
	return "", unsupportedMedia(fmt.Sprintf("This predictor only supports the following content types: Types: ['%s', '%s']. Got '%s'.", typeCSV, typeJSON, ct))
}

// decodeMLflow decodes a scoring request body of content type ct. Raw and
// RawType carry the body on, so that a Python model reads it itself; a
// legacy body (a bare list of records, or a bare split data frame) is
// wrapped into today's form so that MLflow's own parser takes it.
func decodeMLflow(body []byte, ct string) (*serving.Input, error) {
	mt, err := mediaType(ct)
	if err != nil {
		return nil, err
	}
	var in *serving.Input
	if mt == typeCSV {
		in, err = decodeCSV(body)
	} else {
		in, err = decodeMLflowJSON(body)
	}
	if err != nil {
		return nil, err
	}
	if in.Raw == nil {
		in.Raw = body
	}
	in.RawType = ct
	return in, nil
}

func wrapBody(key string, body []byte) []byte {
	b := make([]byte, 0, len(body)+len(key)+5)
	b = append(b, `{"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = append(b, body...)
	return append(b, '}')
}

func decodeMLflowJSON(body []byte) (*serving.Input, error) {
	v, err := parseJSON(body)
	if err != nil {
		return nil, &lode.Error{Code: lode.EBadRequest, Message: fmt.Sprintf("Ensure that input is a valid JSON formatted string. Error: %v", err), Err: err}
	}
	switch v := v.(type) {
	case *packed:
		return nil, badRequest("%s. Received a list.", requiredFormat)
	case []any:
		// MLflow 1.x took a bare list of records.
		if _, ok := v[0].(*object); ok {
			in, err := decodeRecords(v, true)
			if err != nil {
				return nil, err
			}
			in.Raw = wrapBody("dataframe_records", body)
			return in, nil
		}
		return nil, badRequest("%s. Received a list.", requiredFormat)
	case *object:
		var found []string
		for _, k := range formatKeys {
			if _, ok := v.get(k); ok {
				found = append(found, k)
			}
		}
		var in *serving.Input
		switch {
		case len(found) == 1:
			val, _ := v.get(found[0])
			switch found[0] {
			case "dataframe_split":
				in, err = decodeSplit(val)
			case "dataframe_records":
				rows, ok := val.([]any)
				if !ok {
					if p, isPacked := val.(*packed); isPacked && p.len() == 0 {
						return nil, badRequest("dataframe_records holds no records")
					}
					return nil, badRequest("dataframe_records must be a list of records (objects of column to value)")
				}
				in, err = decodeRecords(rows, true)
			default:
				in, err = decodeTensorValue(val)
			}
		case len(found) == 0 && hasKeys(v, "columns", "data"):
			// MLflow 1.x took a bare data frame in the split orientation.
			if in, err = decodeSplit(v); err == nil {
				in.Raw = wrapBody("dataframe_split", body)
			}
		default:
			return nil, badRequest("%s. Received dictionary with input fields: %s.", requiredFormat, quoteList(v.keys))
		}
		if err != nil {
			return nil, err
		}
		if p, ok := v.get("params"); ok && p != nil {
			po, ok := p.(*object)
			if !ok {
				return nil, badRequest("params must be a JSON object of parameter name to value")
			}
			in.Params = plain(po).(map[string]any)
		}
		return in, nil
	}
	return nil, badRequest("%s. Received unexpected input type.", requiredFormat)
}

func hasKeys(o *object, keys ...string) bool {
	for _, k := range keys {
		if _, ok := o.get(k); !ok {
			return false
		}
	}
	return true
}

func quoteList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// decodeSplit decodes pandas' split orientation: {"columns": [...],
// "data": [[row], ...], "index": [...]}; the index is ignored.
func decodeSplit(v any) (*serving.Input, error) {
	o, ok := v.(*object)
	if !ok {
		return nil, badRequest(`dataframe_split must be an object with "columns" and "data"`)
	}
	data, ok := o.get("data")
	if !ok {
		return nil, badRequest(`dataframe_split has no "data"`)
	}
	var cols []string
	if cv, ok := o.get("columns"); ok && cv != nil {
		p, ok := cv.(*packed)
		if !ok || len(p.shape) != 1 || p.kind == kBool {
			return nil, badRequest(`dataframe_split "columns" must be a list of column names`)
		}
		cols = make([]string, p.len())
		for i := range cols {
			switch p.kind {
			case kStr:
				cols[i] = p.strs[i]
			case kInt:
				cols[i] = strconv.FormatInt(p.ints[i], 10)
			default:
				cols[i] = strconv.FormatFloat(p.floats[i], 'g', -1, 64)
			}
		}
	}
	names := func(n int) ([]string, error) {
		if cols == nil {
			cols = make([]string, n)
			for i := range cols {
				cols[i] = strconv.Itoa(i)
			}
		}
		if len(cols) != n {
			return nil, badRequest("dataframe_split has %d columns but rows of %d values", len(cols), n)
		}
		return cols, nil
	}
	frame := func(bs []builder) (*serving.Input, error) {
		in := &serving.Input{Tabular: true, Tensors: make([]serving.Tensor, len(cols))}
		for j := range cols {
			t, err := column(cols[j], &bs[j])
			if err != nil {
				return nil, err
			}
			in.Tensors[j] = t
		}
		return in, nil
	}
	switch d := data.(type) {
	case *packed:
		switch {
		case len(d.shape) == 1 && d.shape[0] == 0:
			// No rows: the columns are empty.
			if cols == nil {
				return nil, badRequest("dataframe_split has no columns and no data")
			}
			return frame(make([]builder, len(cols)))
		case len(d.shape) == 1:
			// A list of scalars is a one-column frame.
			if _, err := names(1); err != nil {
				return nil, err
			}
			bs := make([]builder, 1)
			for i := range d.len() {
				bs[0].addFrom(d, i)
			}
			return frame(bs)
		}
		rows, nc := int(d.shape[0]), int(d.shape[1])
		if _, err := names(nc); err != nil {
			return nil, err
		}
		bs := make([]builder, nc)
		if len(d.shape) == 2 {
			for i := range rows {
				for j := range nc {
					bs[j].addFrom(d, i*nc+j)
				}
			}
		} else {
			for i := range rows {
				row := d.sub(i, rows)
				for j := range nc {
					bs[j].addPacked(row.sub(j, nc))
				}
			}
		}
		return frame(bs)
	case []any:
		var bs []builder
		for i, row := range d {
			n := 0
			switch row := row.(type) {
			case *packed:
				n = int(row.shape[0])
			case []any:
				n = len(row)
			default:
				return nil, badRequest("dataframe_split row %d is not a list", i)
			}
			if bs == nil {
				if _, err := names(n); err != nil {
					return nil, err
				}
				bs = make([]builder, n)
			}
			if n != len(bs) {
				return nil, badRequest("dataframe_split row %d has %d values, expected %d", i, n, len(bs))
			}
			switch row := row.(type) {
			case *packed:
				if len(row.shape) == 1 {
					for j := range n {
						bs[j].addFrom(row, j)
					}
				} else {
					for j := range n {
						bs[j].addPacked(row.sub(j, n))
					}
				}
			case []any:
				for j, cell := range row {
					bs[j].add(cell)
				}
			}
		}
		return frame(bs)
	}
	return nil, badRequest(`dataframe_split "data" must be a list of rows`)
}

// decodeCSV reads a CSV data frame: the header row names the columns. A
// column is INT64 when every cell is an integer, else FP64 when every cell
// is a number or empty (NaN), else BOOL when every cell is true or false,
// else BYTES.
func decodeCSV(body []byte) (*serving.Input, error) {
	rd := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))))
	rd.ReuseRecord = true
	header, err := rd.Read()
	if err == io.EOF {
		return nil, badRequest("The CSV input is empty; it needs a header row naming the columns.")
	}
	if err != nil {
		return nil, badRequest("Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '%v'", err)
	}
	names := make([]string, len(header))
	for j, n := range header {
		if n == "" {
			n = fmt.Sprintf("Unnamed: %d", j)
		}
		names[j] = n
	}
	cells := make([][]string, len(names))
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '%v'", err)
		}
		for j, s := range rec {
			cells[j] = append(cells[j], s)
		}
	}
	in := &serving.Input{Tabular: true, Tensors: make([]serving.Tensor, len(names))}
	for j, name := range names {
		in.Tensors[j] = csvColumn(name, cells[j])
	}
	return in, nil
}

func csvColumn(name string, cells []string) serving.Tensor {
	n := len(cells)
	t := serving.Tensor{Name: name, Shape: []int64{int64(n)}}
	if n == 0 {
		t.DType, t.Data = serving.FP64, []float64{}
		return t
	}
	ints := make([]int64, n)
	ok := true
	for i, s := range cells {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			ok = false
			break
		}
		ints[i] = v
	}
	if ok {
		t.DType, t.Data = serving.Int64, ints
		return t
	}
	floats := make([]float64, n)
	ok = true
	for i, s := range cells {
		s = strings.TrimSpace(s)
		if s == "" {
			floats[i] = math.NaN()
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			ok = false
			break
		}
		floats[i] = v
	}
	if ok {
		t.DType, t.Data = serving.FP64, floats
		return t
	}
	bools := make([]bool, n)
	ok = true
	for i, s := range cells {
		switch strings.TrimSpace(s) {
		case "True", "true", "TRUE":
			bools[i] = true
		case "False", "false", "FALSE":
		default:
			ok = false
		}
		if !ok {
			break
		}
	}
	if ok {
		t.DType, t.Data = serving.Bool, bools
		return t
	}
	t.DType, t.Data = serving.Bytes, append([]string(nil), cells...)
	return t
}
