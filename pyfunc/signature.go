package pyfunc

import (
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

// sigSpec is one entry of an MLflow signature's JSON: a column or a tensor.
type sigSpec struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Required   *bool  `json:"required"`
	TensorSpec *struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	} `json:"tensor-spec"`
}

// signatureInfo describes a model from its MLmodel signature, and returns
// the names of its binary input columns (sent base64-encoded, as MLflow
// expects them in JSON). A model without a signature has empty spec lists.
func signatureInfo(m *mlmodel.Model, log *slog.Logger) (serving.Info, map[string]bool) {
	info := serving.Info{Runtime: "python", Inputs: []serving.TensorSpec{}, Outputs: []serving.TensorSpec{}}
	if m.Signature == nil {
		return info, nil
	}
	var binary map[string]bool
	parse := func(side, text string) ([]serving.TensorSpec, bool) {
		if strings.TrimSpace(text) == "" {
			return nil, false
		}
		var specs []sigSpec
		if err := json.Unmarshal([]byte(text), &specs); err != nil {
			log.Warn("cannot read the model's signature", "side", side, "err", err)
			return nil, false
		}
		out := make([]serving.TensorSpec, 0, len(specs))
		tabular := false
		for _, s := range specs {
			ts := serving.TensorSpec{Name: s.Name, Optional: s.Required != nil && !*s.Required}
			if s.TensorSpec != nil {
				ts.DType = numpyDType(s.TensorSpec.DType)
				ts.Shape = s.TensorSpec.Shape
				if ts.Shape == nil {
					ts.Shape = []int64{}
				}
			} else {
				tabular = true
				ts.DType = columnDType(s.Type)
				ts.Shape = []int64{-1}
				if side == "inputs" && s.Type == "binary" {
					if binary == nil {
						binary = map[string]bool{}
					}
					binary[s.Name] = true
				}
			}
			out = append(out, ts)
		}
		return out, tabular
	}
	if in, tabular := parse("inputs", m.Signature.Inputs); in != nil {
		info.Inputs, info.Tabular = in, tabular
	}
	if out, _ := parse("outputs", m.Signature.Outputs); out != nil {
		info.Outputs = out
	}
	return info, binary
}

// columnDType maps an MLflow column type to a tensor element type. Types
// with no element equivalent (array, object, map, any) map to "".
func columnDType(t string) serving.DType {
	switch t {
	case "double":
		return serving.FP64
	case "float":
		return serving.FP32
	case "long":
		return serving.Int64
	case "integer":
		return serving.Int32
	case "boolean":
		return serving.Bool
	case "string", "binary", "datetime":
		return serving.Bytes
	}
	return ""
}

// numpyDType maps a numpy dtype name ("float64", "<f8", "object") to a
// tensor element type; unknown ones map to "".
func numpyDType(t string) serving.DType {
	t = strings.TrimLeft(strings.ToLower(t), "<>=|")
	switch t {
	case "float64", "f8", "double":
		return serving.FP64
	case "float32", "f4", "single":
		return serving.FP32
	case "float16", "f2", "half":
		return "FP16"
	case "int64", "i8":
		return serving.Int64
	case "int32", "i4":
		return serving.Int32
	case "int16", "i2":
		return serving.Int16
	case "int8", "i1":
		return serving.Int8
	case "uint64", "u8":
		return serving.Uint64
	case "uint32", "u4":
		return serving.Uint32
	case "uint16", "u2":
		return serving.Uint16
	case "uint8", "u1":
		return serving.Uint8
	case "bool", "b1":
		return serving.Bool
	case "str", "object", "bytes", "o":
		return serving.Bytes
	}
	if strings.HasPrefix(t, "str") || strings.HasPrefix(t, "bytes") || strings.HasPrefix(t, "s") || strings.HasPrefix(t, "u") {
		return serving.Bytes // fixed-width strings: "str256", "S10", "U5"
	}
	return ""
}
