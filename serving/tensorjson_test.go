package serving

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
)

func TestAppendJSONFloat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		bits int
		want string
	}{
		{3, 64, "3.0"},
		{-2, 64, "-2.0"},
		{2.5, 32, "2.5"},
		{float64(float32(0.1)), 32, "0.1"},
		{float64(float32(0.1)), 64, "0.10000000149011612"},
		{0.1, 64, "0.1"},
		{0, 64, "0.0"},
		{math.Copysign(0, -1), 64, "-0.0"},
		{0.0001, 64, "0.0001"},
		{0.00001, 64, "1e-05"},
		{-1.5e-7, 64, "-1.5e-07"},
		{1e6, 64, "1000000.0"},
		{123456789, 64, "123456789.0"},
		{16777216, 32, "16777216.0"},
		{1e15, 64, "1000000000000000.0"},
		{1e16, 64, "1e+16"},
		{float64(float32(1e21)), 32, "1e+21"},
		{math.MaxFloat64, 64, "1.7976931348623157e+308"},
		{math.NaN(), 64, "NaN"},
		{math.Inf(1), 32, "Infinity"},
		{math.Inf(-1), 64, "-Infinity"},
	} {
		if got := string(AppendJSONFloat([]byte("x"), c.v, c.bits)); got != "x"+c.want {
			t.Errorf("AppendJSONFloat(%v, %d) = %s, want x%s", c.v, c.bits, got, c.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"tab\tnl\n\rcr\x01\x1f\x7f", `"tab\tnl\n\rcr\u0001\u001f` + "\x7f\""},
		{"é ✓ 😀 <&>", `"é ✓ 😀 <&>"`},
		{"a\u2028b\u2029", `"a\u2028b\u2029"`},
		{"bad \xff byte \xe2\x82", `"bad \ufffd byte \ufffd\ufffd"`},
	} {
		got := AppendJSONString(nil, c.s)
		if string(got) != c.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", c.s, got, c.want)
		}
		// It reads back as encoding/json's encoding does.
		var back, want string
		std, _ := json.Marshal(c.s)
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q encoded as invalid JSON %s: %v", c.s, got, err)
		} else if json.Unmarshal(std, &want); back != want {
			t.Errorf("%q reads back as %q, want %q", c.s, back, want)
		}
	}
}

func TestAppendJSONTensor(t *testing.T) {
	for _, c := range []struct {
		name string
		t    Tensor
		want string
	}{
		{"bool vector", Tensor{DType: Bool, Data: []bool{true, false}}, `[true,false]`},
		{"int8", Tensor{DType: Int8, Shape: []int64{2}, Data: []int8{-128, 127}}, `[-128,127]`},
		{"int16", Tensor{DType: Int16, Shape: []int64{1}, Data: []int16{-300}}, `[-300]`},
		{"int32 2x1x3", Tensor{DType: Int32, Shape: []int64{2, 1, 3}, Data: []int32{1, 2, 3, 4, 5, 6}}, `[[[1,2,3]],[[4,5,6]]]`},
		{"int64", Tensor{DType: Int64, Data: []int64{math.MinInt64}}, `[-9223372036854775808]`},
		{"uint8", Tensor{DType: Uint8, Data: []uint8{7, 255}}, `[7,255]`},
		{"uint16", Tensor{DType: Uint16, Data: []uint16{65535}}, `[65535]`},
		{"uint32", Tensor{DType: Uint32, Data: []uint32{4294967295}}, `[4294967295]`},
		{"uint64", Tensor{DType: Uint64, Data: []uint64{math.MaxUint64}}, `[18446744073709551615]`},
		{"fp32 2x2", Tensor{DType: FP32, Shape: []int64{2, 2}, Data: []float32{0.1, 2, float32(math.NaN()), float32(math.Inf(-1))}}, `[[0.1,2.0],[NaN,-Infinity]]`},
		{"fp64 scalar", Tensor{DType: FP64, Shape: []int64{}, Data: []float64{3}}, `3.0`},
		{"bytes", Tensor{DType: Bytes, Shape: []int64{2, 1}, Data: []string{"a\"b", "\x00"}}, `[["a\"b"],["\u0000"]]`},
		{"empty rows", Tensor{DType: FP64, Shape: []int64{0, 3}, Data: []float64{}}, `[]`},
		{"empty columns", Tensor{DType: FP64, Shape: []int64{2, 0}, Data: []float64{}}, `[[],[]]`},
		{"unknown data", Tensor{DType: FP64, Shape: []int64{}, Data: []complex64{1}}, `null`},
	} {
		if got := string(AppendJSONTensor(nil, &c.t)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}

	// A row of a matrix, from its offset.
	m := Tensor{DType: Int64, Shape: []int64{3, 2}, Data: []int64{1, 2, 3, 4, 5, 6}}
	if got := string(AppendJSONNested(nil, &m, m.Shape[1:], 2)); got != `[3,4]` {
		t.Errorf("row 1 = %s", got)
	}
	if got := string(AppendJSONElem(nil, &m, 5)); got != `6` {
		t.Errorf("element 5 = %s", got)
	}
}

func TestTensorCheck(t *testing.T) {
	for _, c := range []struct {
		name       string
		t          Tensor
		dataOK     bool
		wellFormed bool
	}{
		{"vector without shape", Tensor{DType: FP64, Data: []float64{1, 2}}, true, true},
		{"matrix", Tensor{DType: Bytes, Shape: []int64{2, 1}, Data: []string{"a", "b"}}, true, true},
		{"scalar", Tensor{DType: Bool, Shape: []int64{}, Data: []bool{true}}, true, true},
		{"empty", Tensor{DType: Uint16, Shape: []int64{0, 4}, Data: []uint16{}}, true, true},
		{"wrong data", Tensor{DType: FP64, Data: []int64{1}}, false, false},
		{"FP32 holding float64", Tensor{DType: FP32, Data: []float64{1}}, false, false},
		{"no data", Tensor{DType: Int8}, false, false},
		{"unknown dtype", Tensor{DType: "FP16", Data: []uint16{1}}, false, false},
		{"too few values", Tensor{DType: FP64, Shape: []int64{2, 2}, Data: []float64{1}}, true, false},
		{"scalar of two", Tensor{DType: Int32, Shape: []int64{}, Data: []int32{1, 2}}, true, false},
		{"negative dimensions", Tensor{DType: Int32, Shape: []int64{-1, -2}, Data: []int32{1, 2}}, true, false},
	} {
		if err := c.t.CheckData(); (err == nil) != c.dataOK {
			t.Errorf("%s: CheckData() = %v", c.name, err)
		}
		if err := c.t.Check(); (err == nil) != c.wellFormed {
			t.Errorf("%s: Check() = %v", c.name, err)
		}
	}
	if err := (&Tensor{DType: FP64, Data: []int64{1}}).Check(); err == nil || err.Error() != "datatype FP64 does not match its []int64 data" {
		t.Errorf("wrong data: %v", err)
	}
}

func TestTensorDims(t *testing.T) {
	for _, c := range []struct {
		shape []int64
		want  []int64
	}{{nil, []int64{3}}, {[]int64{}, []int64{}}, {[]int64{3, 1}, []int64{3, 1}}} {
		tn := Tensor{DType: Int64, Shape: c.shape, Data: []int64{1, 2, 3}}
		if got := tn.Dims(); !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("Dims() of shape %#v = %#v, want %#v", c.shape, got, c.want)
		}
	}
}
