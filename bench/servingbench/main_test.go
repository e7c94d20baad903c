package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestPrediction(t *testing.T) {
	for _, c := range []struct {
		proto, body string
		want        float64
	}{
		{"mlflow", `{"predictions": [5.5]}`, 5.5},
		{"mlflow", `{"predictions": [{"variable": 5.25}]}`, 5.25},
		{"mlflow", `{"predictions": [[5.125]]}`, 5.125},
		{"v2", `{"outputs": [{"name": "output-1", "shape": [1, 1], "datatype": "FP64", "data": [4.5]}]}`, 4.5},
	} {
		got, err := prediction(c.proto, []byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("prediction(%s, %s) = %v, %v; want %v", c.proto, c.body, got, err, c.want)
		}
	}
	if _, err := prediction("mlflow", []byte(`{"error_code": "BAD_REQUEST"}`)); err == nil {
		t.Error("an answer without predictions was accepted")
	}
}

func TestBody(t *testing.T) {
	r := benchRequest{Columns: []string{"a", "b"}, Data: [][]float64{{1, 2}}}
	b, err := r.body("v2")
	if err != nil {
		t.Fatal(err)
	}
	var v2 struct {
		Inputs []struct {
			Name  string    `json:"name"`
			Shape []int     `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(b, &v2); err != nil {
		t.Fatal(err)
	}
	if len(v2.Inputs) != 2 || v2.Inputs[1].Name != "b" || v2.Inputs[1].Data[0] != 2 || v2.Inputs[1].Shape[0] != 1 {
		t.Errorf("v2 body %s", b)
	}
	if b, err = r.body("mlflow"); err != nil || string(b) != `{"dataframe_split":{"columns":["a","b"],"data":[[1,2]]}}` {
		t.Errorf("mlflow body %s, %v", b, err)
	}
}

func TestQuantile(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Millisecond
	}
	if q := quantile(d, 0.5); q != 50*time.Millisecond {
		t.Errorf("p50 = %v", q)
	}
	if q := quantile(d, 0.99); q != 99*time.Millisecond {
		t.Errorf("p99 = %v", q)
	}
}

// TestLoops runs both load patterns briefly against the ceiling handler.
func TestLoops(t *testing.T) {
	srv, err := startCeiling()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tg := target{url: "http://" + srv.Addr + "/", body: []byte(`{}`)}
	ctx := context.Background()
	c := closedLoop(ctx, tg, 2, 50*time.Millisecond, 200*time.Millisecond)
	if c.Requests == 0 || c.Errors != 0 || c.P99ms < c.P50ms {
		t.Errorf("closed loop: %+v", c)
	}
	o := openLoop(ctx, tg, 200, 4, 50*time.Millisecond, 250*time.Millisecond)
	if o.Requests < 40 || o.Requests > 51 || o.Errors != 0 {
		t.Errorf("open loop at 200/s for 250 ms: %+v", o)
	}
}
