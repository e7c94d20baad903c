// Package serving is Lode's model server, without its transports: the
// tensors and data frames a request carries, the Model and Runtime
// interfaces the runtimes (onnx, pyfunc) implement, signature checks,
// admission control, and the deployments that follow a registry alias and
// swap versions without dropping a request. The HTTP protocols (MLflow
// scoring, TF Serving REST, KServe V2) live in the inferapi adapter.
package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/lode-ml/lode/mlmodel"
)

// DType is an element type, named as the KServe V2 protocol names them.
type DType string

// The element types Lode's tensors carry. Data holds, for each of them:
// BOOL []bool, INT8 []int8, INT16 []int16, INT32 []int32, INT64 []int64,
// UINT8 []uint8, UINT16 []uint16, UINT32 []uint32, UINT64 []uint64,
// FP32 []float32, FP64 []float64, BYTES []string.
const (
	Bool   DType = "BOOL"
	Int8   DType = "INT8"
	Int16  DType = "INT16"
	Int32  DType = "INT32"
	Int64  DType = "INT64"
	Uint8  DType = "UINT8"
	Uint16 DType = "UINT16"
	Uint32 DType = "UINT32"
	Uint64 DType = "UINT64"
	FP32   DType = "FP32"
	FP64   DType = "FP64"
	Bytes  DType = "BYTES"
)

// Tensor is a named, typed, row-major array. Data is the flat slice type
// listed with the DType constants; its length is the product of Shape.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  any
}

// Len is the number of elements Data holds.
func (t *Tensor) Len() int {
	switch d := t.Data.(type) {
	case []bool:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []string:
		return len(d)
	}
	return 0
}

// Elements is the number of elements a shape holds (1 for a scalar).
func Elements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// Input is a decoded inference request.
type Input struct {
	// Tabular inputs are the columns of a data frame (MLflow's
	// dataframe_split and dataframe_records, CSV, or TF Serving instances
	// given as objects): one 1-D tensor per column, in column order, each
	// with one element per row. Otherwise Tensors are named tensors; a lone
	// tensor may be unnamed.
	Tabular bool
	Tensors []Tensor
	// Params are MLflow's inference parameters ("params" in the body).
	Params map[string]any
	// Raw is the MLflow scoring body as it arrived at /invocations, with
	// its content type, so a Python model parses exactly what
	// `mlflow models serve` would. Empty for other protocols.
	Raw     []byte
	RawType string
}

// Rows is the number of rows of a tabular input (0 when it has no columns).
func (in *Input) Rows() int {
	if len(in.Tensors) == 0 {
		return 0
	}
	return in.Tensors[0].Len()
}

// Output is a model's answer.
type Output struct {
	// Tensors are the named outputs. When Tabular is set they are the
	// columns of a data frame with one element per input row (MLflow
	// returns such predictions as records).
	Tensors []Tensor
	Tabular bool
	// Predictions, when set, is the value MLflow's scoring server would
	// write under "predictions", already encoded (Python models answer in
	// this form); Tensors is then empty.
	Predictions json.RawMessage
}

// TensorSpec describes one input or output of a model. A dimension of -1
// is variable. For a tabular model each column is a spec of shape [-1].
type TensorSpec struct {
	Name     string  `json:"name"`
	DType    DType   `json:"datatype"`
	Shape    []int64 `json:"shape"`
	Optional bool    `json:"optional,omitempty"`
}

// Info describes a loaded model.
type Info struct {
	// Runtime is "onnxruntime" or "python".
	Runtime string
	Inputs  []TensorSpec
	Outputs []TensorSpec
	// Tabular is true when the model's signature is column-based (a data
	// frame) rather than tensor-based.
	Tabular bool
}

// Model is a loaded model, ready to answer. Predict is called from many
// goroutines at once; admission control (Limiter) bounds how many.
type Model interface {
	Info() Info
	Predict(ctx context.Context, in *Input) (*Output, error)
	// Close releases the model; it is called once no request uses it.
	Close() error
}

// Runtime loads models of the flavors it supports.
type Runtime interface {
	// Name is what Info.Runtime reports for models it loads.
	Name() string
	// Supports reports whether the runtime can serve the model.
	Supports(m *mlmodel.Model) bool
	// Load loads the model stored in dir (the folder holding MLmodel).
	Load(ctx context.Context, dir string, m *mlmodel.Model, opts LoadOptions) (Model, error)
}

// LoadOptions tune how a runtime loads a model.
type LoadOptions struct {
	// Name and Version identify the model in logs and errors.
	Name    string
	Version string
	// Workers is how many requests the model runs at once: worker
	// processes for Python models, concurrent sessions runs for ONNX.
	// 0 picks the runtime's default.
	Workers int
	Logger  *slog.Logger
}

// Label names the model in messages: "name version N", or "name".
func (o LoadOptions) Label() string {
	switch {
	case o.Name == "":
		return "(unnamed)"
	case o.Version == "":
		return o.Name
	}
	return o.Name + " version " + o.Version
}

// Log returns the options' logger, or the default one.
func (o LoadOptions) Log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Pick returns the first runtime that supports m, in order of preference.
func Pick(runtimes []Runtime, m *mlmodel.Model) (Runtime, error) {
	for _, r := range runtimes {
		if r.Supports(m) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no runtime serves a model with flavors %v (Lode serves onnx and python_function models)", m.FlavorNames())
}
