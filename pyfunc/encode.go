package pyfunc

import (
	"encoding/base64"
	"encoding/json"

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
		if err := t.CheckData(); err != nil {
			return nil, lode.Errorf(lode.EBadRequest, "column %q: %v", t.Name, err)
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
			b = serving.AppendJSONString(b, in.Tensors[i].Name)
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
			if s, ok := t.Data.([]string); ok && binary[t.Name] {
				b = appendBase64(b, s[r])
			} else {
				b = serving.AppendJSONElem(b, t, r)
			}
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
		if err := t.Check(); err != nil {
			return nil, lode.Errorf(lode.EBadRequest, "tensor %q: %v", t.Name, err)
		}
	}
	b = append(b, `{"inputs":`...)
	if len(in.Tensors) == 1 && in.Tensors[0].Name == "" {
		return serving.AppendJSONTensor(b, &in.Tensors[0]), nil
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
		b = serving.AppendJSONString(b, t.Name)
		b = append(b, ':')
		b = serving.AppendJSONTensor(b, t)
	}
	return append(b, '}'), nil
}

// appendBase64 writes s base64-encoded as a JSON string, as MLflow
// expects the values of a binary column.
func appendBase64(b []byte, s string) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, []byte(s))
	return append(b, '"')
}
