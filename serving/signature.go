package serving

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
)

// Signature is a model's MLflow signature, as tensor specs: a column-based
// signature (Tabular) has one spec of shape [-1] per column.
type Signature struct {
	Inputs  []TensorSpec
	Outputs []TensorSpec
	Tabular bool
	// InputTypes are MLflow's type names of the input columns ("double",
	// "binary", ...), parallel to Inputs; "" for tensor specs.
	InputTypes []string
}

type sigSpec struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Required   *bool  `json:"required"`
	TensorSpec *struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	} `json:"tensor-spec"`
}

// SignatureOf reads the signature of an MLmodel; nil when it has none.
func SignatureOf(m *mlmodel.Model) (*Signature, error) {
	if m == nil || m.Signature == nil || m.Signature.Inputs == "" {
		return nil, nil
	}
	in, types, tabular, err := parseSpecs(m.Signature.Inputs)
	if err != nil {
		return nil, fmt.Errorf("signature inputs: %w", err)
	}
	sig := &Signature{Inputs: in, Tabular: tabular, InputTypes: types}
	if strings.TrimSpace(m.Signature.Outputs) != "" {
		if sig.Outputs, _, _, err = parseSpecs(m.Signature.Outputs); err != nil {
			return nil, fmt.Errorf("signature outputs: %w", err)
		}
	}
	return sig, nil
}

func parseSpecs(text string) ([]TensorSpec, []string, bool, error) {
	var raw []sigSpec
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, nil, false, err
	}
	specs := make([]TensorSpec, 0, len(raw))
	types := make([]string, len(raw))
	tabular := false
	for i, s := range raw {
		ts := TensorSpec{Name: s.Name, Optional: s.Required != nil && !*s.Required}
		if s.TensorSpec != nil {
			ts.DType = DTypeOfNumpy(s.TensorSpec.DType)
			ts.Shape = s.TensorSpec.Shape
			if ts.Shape == nil {
				ts.Shape = []int64{}
			}
		} else {
			types[i] = s.Type
			tabular = true
			ts.DType = DTypeOfColumn(s.Type)
			ts.Shape = []int64{-1}
			if ts.Name == "" {
				ts.Name = fmt.Sprint(i)
			}
		}
		specs = append(specs, ts)
	}
	return specs, types, tabular, nil
}

// DTypeOfColumn maps an MLflow column type to a DType ("" when it has no
// tensor equivalent, as for arrays, objects and maps).
func DTypeOfColumn(t string) DType {
	switch strings.ToLower(t) {
	case "double":
		return FP64
	case "float":
		return FP32
	case "long":
		return Int64
	case "integer":
		return Int32
	case "boolean":
		return Bool
	case "string", "binary", "datetime":
		return Bytes
	}
	return ""
}

// DTypeOfNumpy maps a numpy dtype name ("float64", "<f8", "object") to a
// DType ("" when it has none).
func DTypeOfNumpy(t string) DType {
	t = strings.TrimLeft(strings.ToLower(t), "<>=|")
	switch t {
	case "float64", "f8", "double":
		return FP64
	case "float32", "f4", "single", "float":
		return FP32
	case "int64", "i8":
		return Int64
	case "int32", "i4":
		return Int32
	case "int16", "i2":
		return Int16
	case "int8", "i1":
		return Int8
	case "uint64", "u8":
		return Uint64
	case "uint32", "u4":
		return Uint32
	case "uint16", "u2":
		return Uint16
	case "uint8", "u1":
		return Uint8
	case "bool", "b1":
		return Bool
	case "str", "object", "bytes", "string", "o":
		return Bytes
	}
	if strings.HasPrefix(t, "str") || strings.HasPrefix(t, "bytes") || strings.HasPrefix(t, "s") || strings.HasPrefix(t, "u") {
		return Bytes // fixed-width strings: "str256", "S10", "U5"
	}
	return ""
}

// family groups types for compatibility checks.
func family(d DType) string {
	switch d {
	case FP32, FP64:
		return "float"
	case Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
		return "int"
	case Bool:
		return "bool"
	case Bytes:
		return "string"
	}
	return ""
}

// compatible reports whether values of type got may feed a spec of type
// want, as MLflow's schema enforcement allows: integers widen to floats,
// and floats holding whole numbers may feed integer columns.
func compatible(want DType, t *Tensor) bool {
	fw, fg := family(want), family(t.DType)
	switch {
	case fw == "" || fw == fg:
		return true
	case fw == "float" && (fg == "int" || fg == "bool"):
		return true
	case fw == "int" && fg == "float":
		return wholeNumbers(t)
	}
	return false
}

func wholeNumbers(t *Tensor) bool {
	switch d := t.Data.(type) {
	case []float64:
		for _, v := range d {
			if v != math.Trunc(v) || math.IsInf(v, 0) {
				return false
			}
		}
		return true
	case []float32:
		for _, v := range d {
			if float64(v) != math.Trunc(float64(v)) {
				return false
			}
		}
		return true
	}
	return false
}

// typeName names a spec's type for error messages in MLflow's words.
func typeName(d DType) string {
	switch d {
	case FP64:
		return "double"
	case FP32:
		return "float"
	case Int64:
		return "long"
	case Int32:
		return "integer"
	case Bool:
		return "boolean"
	case Bytes:
		return "string"
	}
	return strings.ToLower(string(d))
}

// CheckInput checks a request against the model's signature when it has
// one (sig), or else against the inputs the runtime reports (info). It
// names the offending column or tensor.
func CheckInput(sig *Signature, info Info, in *Input) error {
	if !in.Tabular && !info.Tabular && namesInputs(info.Inputs, in.Tensors) {
		// Tensors named after the runtime's own inputs (an ONNX graph's,
		// as KServe clients send them) are checked against those.
		return checkTensors(info.Inputs, in)
	}
	if sig != nil && len(sig.Inputs) > 0 {
		if sig.Tabular {
			return checkColumns(sig.Inputs, in)
		}
		return checkTensors(sig.Inputs, in)
	}
	if len(info.Inputs) > 0 && !info.Tabular {
		return checkTensors(info.Inputs, in)
	}
	return nil
}

// namesInputs reports whether every tensor is named after one of specs.
func namesInputs(specs []TensorSpec, ts []Tensor) bool {
	if len(specs) == 0 || len(ts) == 0 {
		return false
	}
	for _, t := range ts {
		found := false
		for _, s := range specs {
			found = found || (t.Name != "" && t.Name == s.Name)
		}
		if !found {
			return false
		}
	}
	return true
}

func checkColumns(specs []TensorSpec, in *Input) error {
	if len(in.Tensors) == 0 {
		return lode.Errorf(lode.EBadRequest, "the request has no input data; the model expects columns %s", specNames(specs))
	}
	byName := make(map[string]*Tensor, len(in.Tensors))
	for i := range in.Tensors {
		byName[in.Tensors[i].Name] = &in.Tensors[i]
	}
	if !in.Tabular && len(in.Tensors) == 1 && in.Tensors[0].Name == "" {
		// A bare array: MLflow reads it as rows of positional columns.
		t := &in.Tensors[0]
		if n := len(t.Shape); n == 2 && t.Shape[1] != int64(len(specs)) {
			return lode.Errorf(lode.EBadRequest, "the model expects %d columns %s, got rows of %d values", len(specs), specNames(specs), t.Shape[1])
		}
		return nil
	}
	for _, s := range specs {
		t, ok := byName[s.Name]
		if !ok {
			if s.Optional {
				continue
			}
			return lode.Errorf(lode.EBadRequest, "missing required input column '%s' (the model expects %s)", s.Name, specNames(specs))
		}
		if !compatible(s.DType, t) {
			return lode.Errorf(lode.EBadRequest, "input column '%s' must be of type %s, got %s", s.Name, typeName(s.DType), typeName(t.DType))
		}
	}
	return nil
}

func checkTensors(specs []TensorSpec, in *Input) error {
	if len(in.Tensors) == 0 {
		return lode.Errorf(lode.EBadRequest, "the request has no input data; the model expects %s", specNames(specs))
	}
	if in.Tabular {
		// A data frame feeding a tensor model: with one input the columns
		// are stacked into a matrix, so their count must fit.
		if len(specs) == 1 {
			s := specs[0]
			if n := len(s.Shape); n >= 2 && s.Shape[n-1] > 0 && int64(len(in.Tensors)) != s.Shape[n-1] {
				return lode.Errorf(lode.EBadRequest, "input '%s' expects %d columns per row, got %d", specLabel(s, 0), s.Shape[n-1], len(in.Tensors))
			}
			for i := range in.Tensors {
				if !compatible(s.DType, &in.Tensors[i]) {
					return lode.Errorf(lode.EBadRequest, "input column '%s' must be of type %s, got %s", in.Tensors[i].Name, typeName(s.DType), typeName(in.Tensors[i].DType))
				}
			}
			return nil
		}
		return checkColumns(specs, in)
	}
	if len(specs) == 1 && len(in.Tensors) == 1 {
		return checkShape(specs[0], 0, &in.Tensors[0])
	}
	byName := make(map[string]*Tensor, len(in.Tensors))
	for i := range in.Tensors {
		byName[in.Tensors[i].Name] = &in.Tensors[i]
	}
	for i, s := range specs {
		t, ok := byName[s.Name]
		if !ok {
			if s.Optional {
				continue
			}
			return lode.Errorf(lode.EBadRequest, "missing required input '%s' (the model expects %s)", specLabel(s, i), specNames(specs))
		}
		if err := checkShape(s, i, t); err != nil {
			return err
		}
	}
	return nil
}

func checkShape(s TensorSpec, i int, t *Tensor) error {
	if !compatible(s.DType, t) {
		return lode.Errorf(lode.EBadRequest, "input '%s' must be of type %s, got %s", specLabel(s, i), typeName(s.DType), typeName(t.DType))
	}
	if len(s.Shape) == 0 {
		return nil
	}
	if len(s.Shape) != len(t.Shape) {
		return lode.Errorf(lode.EBadRequest, "input '%s' must have shape %s, got %s", specLabel(s, i), shapeString(s.Shape), shapeString(t.Shape))
	}
	for d := range s.Shape {
		if s.Shape[d] >= 0 && s.Shape[d] != t.Shape[d] {
			return lode.Errorf(lode.EBadRequest, "input '%s' must have shape %s, got %s", specLabel(s, i), shapeString(s.Shape), shapeString(t.Shape))
		}
	}
	return nil
}

func specLabel(s TensorSpec, i int) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("#%d", i)
}

func specNames(specs []TensorSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = "'" + specLabel(s, i) + "'"
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func shapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// conform puts a data frame's columns in the signature's order and drops
// those it does not name, as MLflow's schema enforcement does, so that a
// runtime stacking columns into a matrix finds each where the model
// expects it.
func conform(sig *Signature, in *Input) *Input {
	if sig == nil || !sig.Tabular || !in.Tabular {
		return in
	}
	byName := make(map[string]int, len(in.Tensors))
	for i, t := range in.Tensors {
		byName[t.Name] = i
	}
	out := *in
	out.Tensors = make([]Tensor, 0, len(sig.Inputs))
	for _, s := range sig.Inputs {
		if i, ok := byName[s.Name]; ok {
			out.Tensors = append(out.Tensors, in.Tensors[i])
		}
	}
	return &out
}
