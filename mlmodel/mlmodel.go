// Package mlmodel reads MLflow's MLmodel file: the YAML document at the
// root of every logged model that names its flavors and, optionally, its
// input and output signature. The registry reads it to describe models in
// the model library; serving will read it to load them.
package mlmodel

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxSize bounds the MLmodel files this package reads.
const MaxSize = 4 << 20

// Model is the part of an MLmodel file Lode uses.
type Model struct {
	ArtifactPath   string                    `yaml:"artifact_path"`
	RunID          string                    `yaml:"run_id"`
	ModelUUID      string                    `yaml:"model_uuid"`
	ModelID        string                    `yaml:"model_id"`
	UTCTimeCreated string                    `yaml:"utc_time_created"`
	Flavors        map[string]map[string]any `yaml:"flavors"`
	Signature      *struct {
		Inputs  string `yaml:"inputs"`
		Outputs string `yaml:"outputs"`
	} `yaml:"signature"`
}

// Parse reads an MLmodel file.
func Parse(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("MLmodel file larger than %d bytes", MaxSize)
	}
	var m Model
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse MLmodel: %w", err)
	}
	if len(m.Flavors) == 0 {
		return nil, fmt.Errorf("MLmodel names no flavors")
	}
	return &m, nil
}

// FlavorNames returns the model's flavors, sorted.
func (m *Model) FlavorNames() []string {
	names := make([]string, 0, len(m.Flavors))
	for n := range m.Flavors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Schema summarises one side of a signature: how many columns (or, for a
// tensor, the size of its last dimension) and their element types,
// normalised to "float", "int", "string", "bool", "binary" or "datetime".
type Schema struct {
	Columns int      `json:"columns"`
	Types   []string `json:"types"`
	JSON    string   `json:"-"` // the signature's own JSON text
}

// Inputs summarises the input signature; ok is false when there is none.
func (m *Model) Inputs() (Schema, bool) {
	if m.Signature == nil || m.Signature.Inputs == "" {
		return Schema{}, false
	}
	return summarise(m.Signature.Inputs)
}

// Outputs summarises the output signature; ok is false when there is none.
func (m *Model) Outputs() (Schema, bool) {
	if m.Signature == nil || m.Signature.Outputs == "" {
		return Schema{}, false
	}
	return summarise(m.Signature.Outputs)
}

type colSpec struct {
	Type       string `json:"type"`
	TensorSpec *struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	} `json:"tensor-spec"`
}

func summarise(text string) (Schema, bool) {
	var cols []colSpec
	if err := json.Unmarshal([]byte(text), &cols); err != nil || len(cols) == 0 {
		return Schema{}, false
	}
	s := Schema{JSON: text}
	seen := map[string]bool{}
	add := func(t string) {
		if t = NormalizeType(t); !seen[t] {
			seen[t] = true
			s.Types = append(s.Types, t)
		}
	}
	if len(cols) == 1 && cols[0].TensorSpec != nil {
		ts := cols[0].TensorSpec
		s.Columns = 1
		if n := len(ts.Shape); n > 0 && ts.Shape[n-1] > 0 {
			s.Columns = ts.Shape[n-1]
		}
		add(ts.DType)
	} else {
		s.Columns = len(cols)
		for _, c := range cols {
			if c.TensorSpec != nil {
				add(c.TensorSpec.DType)
			} else {
				add(c.Type)
			}
		}
	}
	sort.Strings(s.Types)
	return s, true
}

// NormalizeType maps MLflow's column types and numpy dtypes to a family:
// float, int, string, bool, binary, datetime (anything else is kept).
func NormalizeType(t string) string {
	t = strings.ToLower(t)
	switch {
	case t == "double" || t == "float" || strings.HasPrefix(t, "float"):
		return "float"
	case t == "long" || t == "integer" || strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "int"
	case t == "string" || t == "str" || t == "object":
		return "string"
	case t == "boolean" || t == "bool":
		return "bool"
	case t == "binary" || t == "bytes":
		return "binary"
	case t == "datetime" || strings.HasPrefix(t, "datetime"):
		return "datetime"
	}
	return t
}
