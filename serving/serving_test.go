package serving_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/serving"
)

func TestLimiterRefusesBeyondQueue(t *testing.T) {
	l := serving.NewLimiter(2, 1)
	ctx := context.Background()
	r1, err1 := l.Acquire(ctx)
	r2, err2 := l.Acquire(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	// The third waits in the queue; a fourth is refused at once.
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(ctx)
		if err == nil {
			r()
		}
		got <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for l.Waiting() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := l.Acquire(ctx); lode.ErrorCode(err) != lode.EOverloaded {
		t.Fatalf("beyond the queue: %v, want RESOURCE_EXHAUSTED", err)
	}
	if l.Running() != 2 || l.Waiting() != 1 {
		t.Fatalf("running %d waiting %d", l.Running(), l.Waiting())
	}
	r1()
	if err := <-got; err != nil {
		t.Fatalf("queued request: %v", err)
	}
	r2()
	// A request that cannot get a slot in time is answered unavailable.
	l = serving.NewLimiter(1, 4)
	r, _ := l.Acquire(ctx)
	defer r()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(tctx); lode.ErrorCode(err) != lode.EUnavailable {
		t.Fatalf("queue timeout: %v, want TEMPORARILY_UNAVAILABLE", err)
	}
}

func TestLimiterBoundsConcurrency(t *testing.T) {
	l := serving.NewLimiter(3, 1000)
	var mu sync.Mutex
	running, peak := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := l.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			running--
			mu.Unlock()
			release()
		}()
	}
	wg.Wait()
	if peak > 3 {
		t.Fatalf("%d ran at once, limit 3", peak)
	}
}

func sigOf(t *testing.T, inputs string) *serving.Signature {
	t.Helper()
	m := &mlmodel.Model{Flavors: map[string]map[string]any{"python_function": {}}}
	m.Signature = &struct {
		Inputs  string `yaml:"inputs"`
		Outputs string `yaml:"outputs"`
	}{Inputs: inputs}
	sig, err := serving.SignatureOf(m)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func col(name string, d serving.DType, data any) serving.Tensor {
	t := serving.Tensor{Name: name, DType: d, Data: data}
	t.Shape = []int64{int64(t.Len())}
	return t
}

func TestCheckInputNamesTheField(t *testing.T) {
	wine := sigOf(t, `[{"type": "double", "name": "alcohol", "required": true}, {"type": "long", "name": "year", "required": true}, {"type": "string", "name": "note", "required": false}]`)
	if !wine.Tabular || len(wine.Inputs) != 3 || wine.Inputs[1].DType != serving.Int64 || !wine.Inputs[2].Optional {
		t.Fatalf("column signature: %+v", wine)
	}
	tensor := sigOf(t, `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]`)
	if tensor.Tabular || tensor.Inputs[0].DType != serving.FP32 {
		t.Fatalf("tensor signature: %+v", tensor)
	}
	ok := []serving.Tensor{col("alcohol", serving.FP64, []float64{12.8}), col("year", serving.Int64, []int64{2020})}
	for _, tc := range []struct {
		name string
		sig  *serving.Signature
		in   serving.Input
		want string // "" for accepted, else a fragment of the message
	}{
		{"columns ok", wine, serving.Input{Tabular: true, Tensors: ok}, ""},
		{"ints widen to double", wine, serving.Input{Tabular: true, Tensors: []serving.Tensor{col("alcohol", serving.Int64, []int64{12}), col("year", serving.FP64, []float64{2020})}}, ""},
		{"missing column", wine, serving.Input{Tabular: true, Tensors: ok[:1]}, "missing required input column 'year'"},
		{"string in double column", wine, serving.Input{Tabular: true, Tensors: []serving.Tensor{col("alcohol", serving.Bytes, []string{"x"}), ok[1]}}, "column 'alcohol' must be of type double, got string"},
		{"fraction in long column", wine, serving.Input{Tabular: true, Tensors: []serving.Tensor{ok[0], col("year", serving.FP64, []float64{2020.5})}}, "column 'year' must be of type long"},
		{"no data", wine, serving.Input{Tabular: true}, "no input data"},
		{"tensor ok", tensor, serving.Input{Tensors: []serving.Tensor{{DType: serving.FP64, Shape: []int64{2, 3}, Data: make([]float64, 6)}}}, ""},
		{"tensor wrong width", tensor, serving.Input{Tensors: []serving.Tensor{{DType: serving.FP64, Shape: []int64{2, 2}, Data: make([]float64, 4)}}}, "must have shape [-1, 3], got [2, 2]"},
		{"tensor wrong rank", tensor, serving.Input{Tensors: []serving.Tensor{{DType: serving.FP64, Shape: []int64{3}, Data: make([]float64, 3)}}}, "must have shape"},
		{"frame into tensor", tensor, serving.Input{Tabular: true, Tensors: []serving.Tensor{col("a", serving.FP64, []float64{1}), col("b", serving.FP64, []float64{1})}}, "expects 3 columns per row, got 2"},
	} {
		err := serving.CheckInput(tc.sig, serving.Info{}, &tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want != "" && (lode.ErrorCode(err) != lode.EBadRequest || !strings.Contains(lode.ErrorMessage(err), tc.want)):
			t.Errorf("%s: %v, want BAD_REQUEST mentioning %q", tc.name, err, tc.want)
		}
	}
}
