package inferapi

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/lode-ml/lode/serving"
)

// Every fixed-size type decodes from its little-endian bytes.
func TestFromBinaryEveryType(t *testing.T) {
	for _, tc := range []struct {
		d    serving.DType
		data any
	}{
		{serving.Int8, []int8{-1, 2, -128}},
		{serving.Uint8, []uint8{0, 255, 7}},
		{serving.Int16, []int16{-2, 300, -32768}},
		{serving.Uint16, []uint16{1, 65535, 9}},
		{serving.Int32, []int32{-3, 1 << 30, 5}},
		{serving.Uint32, []uint32{4, 1 << 31, 6}},
		{serving.Int64, []int64{-4, 1 << 62, 7}},
		{serving.Uint64, []uint64{5, 1 << 63, 8}},
		{serving.FP32, []float32{0.5, -2.25, 3e30}},
		{serving.FP64, []float64{0.1, -1e300, 2.5}},
		{serving.Bool, []bool{true, false, true}},
	} {
		var raw []byte
		if b, ok := tc.data.([]bool); ok {
			for _, v := range b {
				raw = append(raw, map[bool]byte{true: 1, false: 0}[v])
			}
		} else {
			var err error
			if raw, err = binary.Append(nil, binary.LittleEndian, tc.data); err != nil {
				t.Fatal(err)
			}
		}
		got, err := fromBinary("x", tc.d, []int64{3}, 3, raw)
		if err != nil || !reflect.DeepEqual(got.Data, tc.data) {
			t.Errorf("%s: got %v, %v; want %v", tc.d, got.Data, err, tc.data)
		}
		if _, err := fromBinary("x", tc.d, []int64{4}, 4, raw); err == nil {
			t.Errorf("%s: short data accepted", tc.d)
		}
	}
}
