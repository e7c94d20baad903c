package tune

import (
	"bytes"
	"encoding/json"
	"io"
	"math"

	"github.com/lode-ml/lode"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// optunaJSON is Optuna's serialized distribution
// (optuna.distributions.distribution_to_json).
type optunaJSON struct {
	Name       string                     `json:"name"`
	Attributes map[string]json.RawMessage `json:"attributes"`
}

// OptunaJSON encodes d as Optuna's distribution_to_json does, for example
// {"name": "FloatDistribution", "attributes": {"low": 0.001, "high": 0.1,
// "step": null, "log": true}}.
func (d Distribution) OptunaJSON() ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var v any
	switch d.Kind {
	case Float:
		var step *float64
		if d.Step > 0 {
			step = &d.Step
		}
		type attrs struct {
			Low  float64  `json:"low"`
			High float64  `json:"high"`
			Step *float64 `json:"step"`
			Log  bool     `json:"log"`
		}
		v = struct {
			Name       string `json:"name"`
			Attributes attrs  `json:"attributes"`
		}{"FloatDistribution", attrs{d.Low, d.High, step, d.Log}}
	case Int:
		type attrs struct {
			Low  int64 `json:"low"`
			High int64 `json:"high"`
			Log  bool  `json:"log"`
			Step int64 `json:"step"`
		}
		v = struct {
			Name       string `json:"name"`
			Attributes attrs  `json:"attributes"`
		}{"IntDistribution", attrs{int64(d.Low), int64(d.High), d.Log, int64(d.Step)}}
	case Categorical:
		type attrs struct {
			Choices []any `json:"choices"`
		}
		v = struct {
			Name       string `json:"name"`
			Attributes attrs  `json:"attributes"`
		}{"CategoricalDistribution", attrs{d.Choices}}
	}
	return json.Marshal(v)
}

// ParseOptunaDistribution decodes what Optuna's distribution_to_json
// writes: FloatDistribution, IntDistribution, CategoricalDistribution, the
// deprecated UniformDistribution, LogUniformDistribution,
// DiscreteUniformDistribution, IntUniformDistribution and
// IntLogUniformDistribution, and the abbreviated form {"type": "float", ...}
// that json_to_distribution also reads. Errors are EInvalid.
func ParseOptunaDistribution(data []byte) (Distribution, error) {
	bad := func(format string, args ...any) (Distribution, error) {
		return Distribution{}, lode.Errorf(lode.EInvalid, "distribution: "+format, args...)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return bad("%v", err)
	}
	attrs := raw
	var name string
	if n, ok := raw["name"]; ok {
		if err := json.Unmarshal(n, &name); err != nil {
			return bad("name: %v", err)
		}
		var a optunaJSON
		if err := json.Unmarshal(data, &a); err != nil {
			return bad("%v", err)
		}
		attrs = a.Attributes
	} else {
		var typ string
		if err := json.Unmarshal(raw["type"], &typ); err != nil {
			return bad("neither a name nor a type")
		}
		switch typ {
		case "float":
			name = "FloatDistribution"
		case "int":
			name = "IntDistribution"
		case "categorical":
			name = "CategoricalDistribution"
		default:
			return bad("unknown type %q", typ)
		}
	}
	num := func(key string, def *float64) (float64, bool, error) {
		r, ok := attrs[key]
		if !ok || string(r) == "null" {
			if def != nil {
				return *def, false, nil
			}
			return 0, false, lode.Errorf(lode.EInvalid, "distribution: %s has no %s", name, key)
		}
		var f float64
		if err := json.Unmarshal(r, &f); err != nil {
			return 0, false, lode.Errorf(lode.EInvalid, "distribution: %s: %v", key, err)
		}
		return f, true, nil
	}
	flag := func(key string) (bool, error) {
		r, ok := attrs[key]
		if !ok || string(r) == "null" {
			return false, nil
		}
		var b bool
		if err := json.Unmarshal(r, &b); err != nil {
			return false, lode.Errorf(lode.EInvalid, "distribution: %s: %v", key, err)
		}
		return b, nil
	}
	zero, one := 0.0, 1.0
	var d Distribution
	switch name {
	case "FloatDistribution", "UniformDistribution", "LogUniformDistribution", "DiscreteUniformDistribution":
		d.Kind = Float
	case "IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution":
		d.Kind = Int
	case "CategoricalDistribution":
		d.Kind = Categorical
	default:
		return bad("unknown distribution %q", name)
	}
	var err error
	if d.Kind == Categorical {
		dec := json.NewDecoder(bytes.NewReader(attrs["choices"]))
		dec.UseNumber()
		var choices []any
		if err := dec.Decode(&choices); err != nil {
			return bad("choices: %v", err)
		}
		for _, c := range choices {
			v, err := choice(c)
			if err != nil {
				return Distribution{}, err
			}
			d.Choices = append(d.Choices, v)
		}
	} else {
		if d.Low, _, err = num("low", nil); err != nil {
			return Distribution{}, err
		}
		if d.High, _, err = num("high", nil); err != nil {
			return Distribution{}, err
		}
		if d.Log, err = flag("log"); err != nil {
			return Distribution{}, err
		}
		switch name {
		case "LogUniformDistribution", "IntLogUniformDistribution":
			d.Log = true
		}
		stepKey := "step"
		if name == "DiscreteUniformDistribution" {
			stepKey = "q"
		}
		def := &zero
		if d.Kind == Int {
			def = &one
		}
		if d.Step, _, err = num(stepKey, def); err != nil {
			return Distribution{}, err
		}
		if math.IsNaN(d.Step) {
			d.Step = *def
		}
	}
	if err := d.check(); err != nil {
		return Distribution{}, lode.Errorf(lode.EInvalid, "distribution: %s", lode.ErrorMessage(err))
	}
	return d, nil
}
