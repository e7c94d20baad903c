package pyfunc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	lode "github.com/lode-ml/lode"
	"github.com/lode-ml/lode/mlmodel"
	"github.com/lode-ml/lode/pyenv"
	"github.com/lode-ml/lode/serving"
)

// readEnvSpec finds and reads the model's environment description: its
// python_env.yaml (or requirements.txt, or conda.yaml's pip section).
func readEnvSpec(dir string, m *mlmodel.Model) (*pyenv.Spec, error) {
	s := &pyenv.Spec{Dir: dir}
	pyEnv := "python_env.yaml"
	if env, ok := m.Flavors[Flavor]["env"].(map[string]any); ok {
		if p, ok := env["virtualenv"].(string); ok && p != "" {
			pyEnv = p
		}
	}
	if v, ok := m.Flavors[Flavor]["python_version"].(string); ok {
		s.Python = v
	}
	if b, err := readModelFile(dir, pyEnv); err == nil {
		var doc struct {
			Python       any      `yaml:"python"`
			Build        []string `yaml:"build_dependencies"`
			Dependencies []string `yaml:"dependencies"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, lode.Errorf(lode.EInvalidState, "cannot read the model's %s: %v", pyEnv, err)
		}
		s.Source = pyEnv
		if doc.Python != nil {
			s.Python = fmt.Sprint(doc.Python)
		}
		s.Build = pyenv.CleanLines(doc.Build)
		if err := s.Add(dir, doc.Dependencies, false); err != nil {
			return nil, err
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, lode.Internal(err, "cannot read the model's "+pyEnv)
	}
	if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); err == nil {
		s.Source = "requirements.txt"
		return s, s.Add(dir, []string{"-r requirements.txt"}, false)
	}
	condaFile := "conda.yaml"
	if p, ok := m.Flavors[Flavor]["env"].(string); ok && p != "" {
		condaFile = p // MLflow 1.x: env names the conda file
	}
	if b, err := readModelFile(dir, condaFile); err == nil {
		var doc struct {
			Dependencies []any `yaml:"dependencies"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, lode.Errorf(lode.EInvalidState, "cannot read the model's %s: %v", condaFile, err)
		}
		for _, d := range doc.Dependencies {
			if mp, ok := d.(map[string]any); ok {
				if pip, ok := mp["pip"].([]any); ok {
					lines := make([]string, 0, len(pip))
					for _, l := range pip {
						lines = append(lines, fmt.Sprint(l))
					}
					s.Source = condaFile
					if err := s.Add(dir, lines, false); err != nil {
						return nil, err
					}
				}
			}
		}
		if s.Source != "" {
			return s, nil
		}
	}
	return nil, lode.Errorf(lode.EInvalidState,
		"the model has no python_env.yaml, requirements.txt or conda.yaml pip section to build its environment from; serve it with the local environment manager")
}

func readModelFile(dir, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
}

// environment returns the model's virtual environment, building it when
// it is not cached yet.
func (r *Runtime) environment(ctx context.Context, dir string, m *mlmodel.Model, opts serving.LoadOptions, log *slog.Logger) (string, error) {
	spec, err := readEnvSpec(dir, m)
	if err != nil {
		return "", err
	}
	return r.envs.Ensure(ctx, spec, "model "+opts.Label(), log)
}
