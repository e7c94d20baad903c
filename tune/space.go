package tune

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"

	"github.com/lode-ml/lode"
)

// Kind is a parameter's kind.
type Kind string

// The kinds of parameter.
const (
	Float       Kind = "float"
	Int         Kind = "int"
	Categorical Kind = "categorical"
)

// ParamSpec is one parameter as a study file writes it (YAML or JSON), for
// example
//
//	space:
//	  - {name: lr, type: float, low: 1.0e-5, high: 0.1, log: true}
//	  - {name: layers, type: int, low: 1, high: 4}
//	  - {name: optimizer, type: categorical, values: [sgd, adam]}
//	  - {name: momentum, type: float, low: 0, high: 0.9, step: 0.1, when: {param: optimizer, values: [sgd]}}
//
// NewSpace checks it; a space keeps its parameters in the order given.
type ParamSpec struct {
	Name string `json:"name" yaml:"name"`
	// Type is float, int or categorical.
	Type Kind `json:"type" yaml:"type"`
	// Low and High bound a float or int parameter, both included.
	Low  *float64 `json:"low,omitempty" yaml:"low,omitempty"`
	High *float64 `json:"high,omitempty" yaml:"high,omitempty"`
	// Step makes a float parameter discrete (low, low+step, ... high); an
	// int parameter's step defaults to 1.
	Step *float64 `json:"step,omitempty" yaml:"step,omitempty"`
	// Log samples a float or int parameter uniformly in log space.
	Log bool `json:"log,omitempty" yaml:"log,omitempty"`
	// Values are a categorical parameter's choices: strings, numbers,
	// booleans or null.
	Values []any `json:"values,omitempty" yaml:"values,omitempty"`
	// Grid lists the values a grid search tries for a float or int
	// parameter, instead of every step of its range.
	Grid []float64 `json:"grid,omitempty" yaml:"grid,omitempty"`
	// When makes the parameter conditional: it exists only in trials whose
	// parent categorical parameter takes one of the given values.
	When *Condition `json:"when,omitempty" yaml:"when,omitempty"`
}

// Condition is a conditional parameter's parent and the parent's values
// that make it active.
type Condition struct {
	Param  string `json:"param" yaml:"param"`
	Values []any  `json:"values" yaml:"values"`
}

// Distribution is the range of one parameter, as Optuna's distributions
// describe one (FloatDistribution, IntDistribution,
// CategoricalDistribution).
type Distribution struct {
	Kind Kind
	// Low and High bound a float or int parameter, both included.
	Low, High float64
	// Step is 0 for a continuous float parameter; at least 1 for an int.
	Step float64
	Log  bool
	// Choices of a categorical parameter: string, bool, int64, float64 or
	// nil values.
	Choices []any
}

// Param is one checked parameter of a Space.
type Param struct {
	Name string
	Distribution
	// Grid is what a grid search tries of a float or int parameter, in
	// order; nil for every step of its range (every choice of a
	// categorical).
	Grid []float64
	// When is nil for an unconditional parameter.
	When *Condition
}

// Space is a checked search space. Its parameters keep the order of the
// specs they came from; a conditional parameter comes after its parent.
type Space struct {
	params []Param
	index  map[string]int
	specs  []ParamSpec
}

// Params is one trial's assignment, by name, of the parameters active in
// it: float64 for a float parameter, int64 for an int one, and the choice
// itself (string, bool, int64, float64 or nil) for a categorical one.
type Params map[string]any

// Limits that keep a study's state and a grid of bounded size.
const (
	maxParams  = 256
	maxChoices = 10000
	maxGrid    = 100000
)

var paramName = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,250}$`)

// NewSpace checks specs and returns the space they describe. Errors are
// EInvalid and name the offending parameter.
func NewSpace(specs []ParamSpec) (*Space, error) {
	if len(specs) == 0 {
		return nil, lode.Errorf(lode.EInvalid, "the search space has no parameters")
	}
	if len(specs) > maxParams {
		return nil, lode.Errorf(lode.EInvalid, "the search space has %d parameters; at most %d are allowed", len(specs), maxParams)
	}
	s := &Space{index: map[string]int{}, specs: slices.Clone(specs)}
	for i, spec := range specs {
		p, err := s.check(spec)
		if err != nil {
			return nil, err
		}
		s.index[p.Name] = i
		s.params = append(s.params, p)
	}
	return s, nil
}

func (s *Space) check(spec ParamSpec) (Param, error) {
	if !paramName.MatchString(spec.Name) {
		return Param{}, lode.Errorf(lode.EInvalid, "parameter name %q must be 1 to 250 letters, digits, '_', '.', '-' or '/'", spec.Name)
	}
	if _, dup := s.index[spec.Name]; dup {
		return Param{}, lode.Errorf(lode.EInvalid, "parameter %q is declared twice", spec.Name)
	}
	p := Param{Name: spec.Name}
	bad := func(format string, args ...any) (Param, error) {
		return Param{}, lode.Errorf(lode.EInvalid, "parameter %q: %s", spec.Name, fmt.Sprintf(format, args...))
	}
	switch spec.Type {
	case Float, Int:
		if len(spec.Values) > 0 {
			return bad("values are for categorical parameters; a %s parameter takes low and high", spec.Type)
		}
		if spec.Low == nil || spec.High == nil {
			return bad("a %s parameter needs low and high", spec.Type)
		}
		d := Distribution{Kind: spec.Type, Low: *spec.Low, High: *spec.High, Log: spec.Log}
		if spec.Step != nil {
			d.Step = *spec.Step
			if d.Step <= 0 || !finite(d.Step) {
				return bad("step must be a positive number, not %v", d.Step)
			}
		} else if d.Kind == Int {
			d.Step = 1
		}
		if err := d.check(); err != nil {
			return bad("%s", err.Error())
		}
		p.Distribution = d
		if len(spec.Grid) > 0 {
			for _, v := range spec.Grid {
				if !d.contains(v) {
					return bad("grid value %v is not in the parameter's range", v)
				}
			}
			p.Grid = slices.Clone(spec.Grid)
			if len(slices.Compact(slices.Sorted(slices.Values(p.Grid)))) != len(p.Grid) {
				return bad("grid lists a value twice")
			}
		}
	case Categorical:
		if spec.Low != nil || spec.High != nil || spec.Step != nil || spec.Log || len(spec.Grid) > 0 {
			return bad("a categorical parameter takes values only (no low, high, step, log or grid)")
		}
		d := Distribution{Kind: Categorical}
		for _, v := range spec.Values {
			c, err := choice(v)
			if err != nil {
				return bad("%s", err.Error())
			}
			d.Choices = append(d.Choices, c)
		}
		if err := d.check(); err != nil {
			return bad("%s", err.Error())
		}
		p.Distribution = d
	default:
		return bad("type must be float, int or categorical, not %q", spec.Type)
	}
	if spec.When != nil {
		w := spec.When
		i, ok := s.index[w.Param]
		if !ok {
			return bad("its condition names %q, which is not a parameter declared before it", w.Param)
		}
		parent := s.params[i]
		if parent.Kind != Categorical {
			return bad("its condition's parent %q is not categorical", w.Param)
		}
		if len(w.Values) == 0 {
			return bad("its condition lists no values of %q", w.Param)
		}
		c := &Condition{Param: w.Param}
		for _, v := range w.Values {
			v, err := choice(v)
			if err != nil {
				return bad("condition: %s", err.Error())
			}
			if parent.index(v) < 0 {
				return bad("its condition's value %s is not a choice of %q", FormatValue(v), w.Param)
			}
			c.Values = append(c.Values, v)
		}
		p.When = c
	}
	return p, nil
}

func (d Distribution) check() error {
	switch d.Kind {
	case Float, Int:
		if !finite(d.Low) || !finite(d.High) {
			return lode.Errorf(lode.EInvalid, "low and high must be finite numbers")
		}
		if d.Low > d.High {
			return lode.Errorf(lode.EInvalid, "low %v is above high %v", d.Low, d.High)
		}
		if d.Log && d.Low <= 0 {
			return lode.Errorf(lode.EInvalid, "a log parameter needs low > 0, not %v", d.Low)
		}
		if d.Step < 0 || !finite(d.Step) {
			return lode.Errorf(lode.EInvalid, "step must be a positive number")
		}
		if d.Kind == Int {
			if d.Low != math.Trunc(d.Low) || d.High != math.Trunc(d.High) || d.Step != math.Trunc(d.Step) || d.Step < 1 {
				return lode.Errorf(lode.EInvalid, "an int parameter needs whole low, high and step (got %v, %v, %v)", d.Low, d.High, d.Step)
			}
			if math.Abs(d.Low) > 1<<53 || math.Abs(d.High) > 1<<53 {
				return lode.Errorf(lode.EInvalid, "int bounds must lie within ±2^53")
			}
			if d.Log && d.Step != 1 {
				return lode.Errorf(lode.EInvalid, "a log int parameter cannot have a step other than 1")
			}
		} else if d.Log && d.Step != 0 {
			return lode.Errorf(lode.EInvalid, "a float parameter cannot be both log and stepped")
		}
		if d.Step > 0 {
			// An off-grid high would be a value no searcher can propose.
			k := (d.High - d.Low) / d.Step
			if math.Abs(k-math.Round(k)) > 1e-8*math.Max(1, k) {
				return lode.Errorf(lode.EInvalid, "high %v is not low %v plus a whole number of steps %v", d.High, d.Low, d.Step)
			}
		}
	case Categorical:
		if len(d.Choices) == 0 {
			return lode.Errorf(lode.EInvalid, "a categorical parameter needs at least one value")
		}
		if len(d.Choices) > maxChoices {
			return lode.Errorf(lode.EInvalid, "a categorical parameter may have at most %d values", maxChoices)
		}
		for i, c := range d.Choices {
			if _, err := choice(c); err != nil {
				return err
			}
			if d.index(c) != i {
				return lode.Errorf(lode.EInvalid, "value %s is listed twice", FormatValue(c))
			}
		}
		if d.Low != 0 || d.High != 0 || d.Step != 0 || d.Log {
			return lode.Errorf(lode.EInvalid, "a categorical distribution has no low, high, step or log")
		}
	default:
		return lode.Errorf(lode.EInvalid, "kind must be float, int or categorical, not %q", d.Kind)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// steps is the number of steps from low to high of a stepped distribution
// (capped far beyond what any search visits).
func (d Distribution) steps() int64 {
	return int64(math.Min(math.Round((d.High-d.Low)/d.Step), 1<<62))
}

// stepValue is low plus k steps, computed so that decimal steps land on
// the values a user wrote (0.1*3 = 0.30000000000000004, 3/10 = 0.3).
func (d Distribution) stepValue(k int64) float64 {
	v := d.Low + float64(k)*d.Step
	if inv := 1 / d.Step; inv == math.Round(inv) && inv > 1 {
		v = d.Low + float64(k)/inv
	}
	return math.Min(v, d.High)
}

// snap rounds x to the distribution's grid and range.
func (d Distribution) snap(x float64) float64 {
	if d.Step > 0 {
		k := math.Round((x - d.Low) / d.Step)
		x = d.stepValue(int64(math.Max(0, math.Min(k, float64(d.steps())))))
	}
	return math.Max(d.Low, math.Min(d.High, x))
}

// contains reports whether internal value x is one a parameter of d can take.
func (d Distribution) contains(x float64) bool {
	if !finite(x) {
		return false
	}
	switch d.Kind {
	case Categorical:
		return x == math.Trunc(x) && x >= 0 && int(x) < len(d.Choices)
	default:
		if x < d.Low || x > d.High {
			return false
		}
		if d.Step > 0 {
			k := (x - d.Low) / d.Step
			return math.Abs(k-math.Round(k)) <= 1e-8*math.Max(1, math.Abs(k))
		}
		return true
	}
}

// index is the position of choice v, or -1. Numbers compare by value, so
// 1 and 1.0 are the same choice.
func (d Distribution) index(v any) int {
	for i, c := range d.Choices {
		if sameChoice(c, v) {
			return i
		}
	}
	return -1
}

func sameChoice(a, b any) bool {
	fa, na := number(a)
	fb, nb := number(b)
	if na || nb {
		return na && nb && fa == fb
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// choice normalizes a categorical value as YAML and JSON decoders produce
// them to string, bool, int64, float64 or nil.
func choice(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int64:
		return v, nil
	case float64:
		if !finite(v) {
			return nil, lode.Errorf(lode.EInvalid, "value %v is not a finite number", v)
		}
		return v, nil
	case float32:
		return choice(float64(v))
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, lode.Errorf(lode.EInvalid, "value %d is too large", v)
		}
		return int64(v), nil
	case uint:
		return choice(uint64(v))
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "value %s is not a number", v)
		}
		return choice(f)
	}
	return nil, lode.Errorf(lode.EInvalid, "value %v (%T) is not a string, number, boolean or null", v, v)
}

// FormatValue writes a parameter value as a trial's command line and
// environment receive it: numbers in their shortest exact form, booleans
// as true/false, null as an empty string.
func FormatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// ToInternal turns an external value into Optuna's internal representation:
// the number itself for float and int parameters, the choice's index for a
// categorical one. It fails with EInvalid if v is not a value of d.
func (d Distribution) ToInternal(v any) (float64, error) {
	if d.Kind == Categorical {
		c, err := choice(v)
		if err != nil {
			return 0, err
		}
		if i := d.index(c); i >= 0 {
			return float64(i), nil
		}
		return 0, lode.Errorf(lode.EInvalid, "%s is not one of the parameter's values", FormatValue(c))
	}
	c, err := choice(v)
	if err != nil {
		return 0, err
	}
	x, ok := number(c)
	if !ok {
		return 0, lode.Errorf(lode.EInvalid, "%s is not a number", FormatValue(c))
	}
	if !d.contains(x) {
		return 0, lode.Errorf(lode.EInvalid, "%s is outside the parameter's range", FormatValue(c))
	}
	return x, nil
}

// ToExternal turns an internal value back into the parameter's value; x
// must be one of d's (see ToInternal).
func (d Distribution) ToExternal(x float64) any {
	switch d.Kind {
	case Categorical:
		i := max(0, min(int(x), len(d.Choices)-1))
		return d.Choices[i]
	case Int:
		return int64(math.Round(x))
	}
	return x
}

// Params returns the space's parameters in order.
func (s *Space) Params() []Param { return slices.Clone(s.params) }

// Specs returns the specs the space was made from.
func (s *Space) Specs() []ParamSpec { return slices.Clone(s.specs) }

// Param returns the parameter called name.
func (s *Space) Param(name string) (Param, bool) {
	i, ok := s.index[name]
	if !ok {
		return Param{}, false
	}
	return s.params[i], true
}

// MarshalJSON writes the space as its list of specs.
func (s *Space) MarshalJSON() ([]byte, error) { return json.Marshal(s.specs) }

// UnmarshalJSON reads a list of specs and checks it as NewSpace does.
func (s *Space) UnmarshalJSON(data []byte) error {
	var specs []ParamSpec
	d := json.NewDecoder(bytesReader(data))
	d.UseNumber()
	if err := d.Decode(&specs); err != nil {
		return lode.Errorf(lode.EInvalid, "search space: %v", err)
	}
	for i := range specs {
		for j, v := range specs[i].Values {
			if n, ok := v.(json.Number); ok {
				c, err := choice(n)
				if err != nil {
					return err
				}
				specs[i].Values[j] = c
			}
		}
		if w := specs[i].When; w != nil {
			for j, v := range w.Values {
				if n, ok := v.(json.Number); ok {
					c, err := choice(n)
					if err != nil {
						return err
					}
					w.Values[j] = c
				}
			}
		}
	}
	t, err := NewSpace(specs)
	if err != nil {
		return err
	}
	*s = *t
	return nil
}

// active reports whether p is active given the values (internal
// representation, by parameter index) of the parameters before it; NaN
// marks an inactive parent.
func (s *Space) active(p Param, x []float64) bool {
	if p.When == nil {
		return true
	}
	i := s.index[p.When.Param]
	if math.IsNaN(x[i]) {
		return false
	}
	v := s.params[i].Choices[int(x[i])]
	return slices.ContainsFunc(p.When.Values, func(w any) bool { return sameChoice(v, w) })
}

// internal turns params into one internal value per parameter, NaN for an
// inactive one, checking that exactly the active parameters are present.
func (s *Space) internal(params Params) ([]float64, error) {
	x := make([]float64, len(s.params))
	for name := range params {
		if _, ok := s.index[name]; !ok {
			return nil, lode.Errorf(lode.EInvalid, "%q is not a parameter of the search space", name)
		}
	}
	for i, p := range s.params {
		x[i] = math.NaN()
		v, present := params[p.Name]
		if !s.active(p, x) {
			if present {
				return nil, lode.Errorf(lode.EInvalid, "parameter %q is given but inactive: its condition on %q does not hold", p.Name, p.When.Param)
			}
			continue
		}
		if !present {
			return nil, lode.Errorf(lode.EInvalid, "parameter %q is missing", p.Name)
		}
		xi, err := p.ToInternal(v)
		if err != nil {
			return nil, lode.Errorf(lode.EInvalid, "parameter %q: %s", p.Name, lode.ErrorMessage(err))
		}
		x[i] = xi
	}
	return x, nil
}

// external turns internal values (NaN: inactive) into Params.
func (s *Space) external(x []float64) Params {
	out := Params{}
	for i, p := range s.params {
		if !math.IsNaN(x[i]) {
			out[p.Name] = p.ToExternal(x[i])
		}
	}
	return out
}

// Check normalizes params (numbers to int64 or float64 as the parameter's
// kind says) and checks that every active parameter, and no inactive one,
// has a value in its range. Errors are EInvalid.
func (s *Space) Check(params map[string]any) (Params, error) {
	x, err := s.internal(params)
	if err != nil {
		return nil, err
	}
	return s.external(x), nil
}
