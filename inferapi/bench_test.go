package inferapi

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/lode-ml/lode/serving"
)

func benchFloats(n int) string {
	r := rand.New(rand.NewSource(1))
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprint(r.Float64())
	}
	return strings.Join(parts, ",")
}

func BenchmarkDecodeKServeJSON(b *testing.B) {
	const n = 1 << 20
	body := []byte(`{"inputs": [{"name": "x", "shape": [` + fmt.Sprint(n) + `], "datatype": "FP32", "data": [` + benchFloats(n) + `]}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeKServe(body, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMLflowSplit(b *testing.B) {
	const rows, cols = 20000, 10
	r := rand.New(rand.NewSource(1))
	data := make([][]any, rows)
	names := make([]string, cols)
	for j := range names {
		names[j] = fmt.Sprint("c", j)
	}
	for i := range data {
		data[i] = make([]any, cols)
		for j := range cols {
			if j%2 == 0 {
				data[i][j] = r.Intn(1000)
			} else {
				data[i][j] = r.Float64()
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": names, "data": data}})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeMLflow(body, typeJSON); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTensor(b *testing.B) {
	const n = 1 << 20
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i) / 7
	}
	out := &serving.Output{Tensors: []serving.Tensor{{Name: "y", DType: serving.FP32, Shape: []int64{n}, Data: v}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := appendPredictions(nil, out); err != nil {
			b.Fatal(err)
		}
	}
}
