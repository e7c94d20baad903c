package pyfunc

import (
	"log/slog"

	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

// signatureInfo describes a model from its MLmodel signature, and returns
// the names of its binary input columns (sent base64-encoded, as MLflow
// expects them in JSON). A model without a signature has empty spec lists.
func signatureInfo(m *mlmodel.Model, log *slog.Logger) (serving.Info, map[string]bool) {
	info := serving.Info{Runtime: "python", Inputs: []serving.TensorSpec{}, Outputs: []serving.TensorSpec{}}
	sig, err := serving.SignatureOf(m)
	if err != nil {
		log.Warn("cannot read the model's signature", "err", err)
		return info, nil
	}
	if sig == nil {
		return info, nil
	}
	info.Inputs, info.Tabular = sig.Inputs, sig.Tabular
	if sig.Outputs != nil {
		info.Outputs = sig.Outputs
	}
	var binary map[string]bool
	for i, t := range sig.InputTypes {
		if t == "binary" {
			if binary == nil {
				binary = map[string]bool{}
			}
			binary[sig.Inputs[i].Name] = true
		}
	}
	return info, binary
}
