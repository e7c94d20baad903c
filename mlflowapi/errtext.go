package mlflowapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/lode-ml/lode"
)

// wrongType is MLflow's answer to a request whose JSON did not decode
// into v: the message of its request schema (lode.MsgWrongType) for the
// first field of v, in declaration order as MLflow's schemas list them,
// whose value has the wrong type. It returns nil when no top-level field
// is at fault (an item of a list is), leaving the decoder's message.
func wrongType(body []byte, v any) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil
	}
	t := reflect.TypeOf(v)
	if t.Kind() != reflect.Pointer {
		return nil
	}
	return wrongTypeIn(obj, t.Elem())
}

func wrongTypeIn(obj map[string]json.RawMessage, t reflect.Type) error {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			if err := wrongTypeIn(obj, f.Type); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		raw, ok := obj[name]
		if !ok || name == "-" {
			continue
		}
		err := json.Unmarshal(raw, reflect.New(f.Type).Interface())
		if err == nil {
			continue
		}
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
			return nil // deeper down: not what MLflow's schema checks
		}
		return badValue(name, raw)
	}
	return nil
}

// badValue is lode.MsgWrongType for field holding the JSON value raw.
func badValue(field string, raw []byte) error {
	return lode.Invalid(lode.MsgWrongType, pyJSON(raw), field, pyType(raw))
}

// overLimit refuses a max_results over a search's limit as MLflow's
// request schema does: with the message of a wrongly typed value.
func overLimit(field string, v jint, limit int64) error {
	if v.Set && v.V > limit {
		return badValue(field, v.raw)
	}
	return nil
}

// pyType names the Python type json.loads gives the JSON value raw.
func pyType(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "NoneType"
	}
	switch raw[0] {
	case '"':
		return "str"
	case '[':
		return "list"
	case '{':
		return "dict"
	case 't', 'f':
		return "bool"
	case 'n':
		return "NoneType"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "float"
	}
	return "int"
}

// pyJSON writes the JSON value raw as MLflow quotes it in messages:
// Python's json.dumps(value, sort_keys=True, separators=(",", ":")),
// which escapes every character outside ASCII.
func pyJSON(raw []byte) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return string(raw)
	}
	var b strings.Builder
	writePyJSON(&b, v)
	return b.String()
}

func writePyJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		s := v.String()
		if strings.ContainsAny(s, ".eE") {
			// Python reads it as a float and writes its repr.
			f, err := v.Float64()
			if err == nil {
				s = strconv.FormatFloat(f, 'g', -1, 64)
				if e := strings.IndexByte(s, 'e'); e >= 0 {
					// Python: 1e+20, 1e-07 (two exponent digits at least)
					mant, exp := s[:e], s[e+1:]
					sign := exp[:1]
					digits := strings.TrimLeft(exp[1:], "0")
					for len(digits) < 2 {
						digits = "0" + digits
					}
					s = mant + "e" + sign + digits
				} else if !strings.Contains(s, ".") {
					s += ".0"
				}
			}
		}
		b.WriteString(s)
	case string:
		b.WriteString(lode.PythonJSONString(v))
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writePyJSON(b, x)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys) // Python sorts by code point; Go's order of valid UTF-8 is the same
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(lode.PythonJSONString(k))
			b.WriteByte(':')
			writePyJSON(b, v[k])
		}
		b.WriteByte('}')
	}
}
