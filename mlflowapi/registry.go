package mlflowapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"

	"github.com/lode-ml/lode/registry"
	"github.com/lode-ml/lode/tracking"
)

type wAlias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type wModelVersion struct {
	Name           string   `json:"name"`
	Version        string   `json:"version"`
	CreationTime   int64    `json:"creation_timestamp"`
	LastUpdateTime int64    `json:"last_updated_timestamp"`
	UserID         string   `json:"user_id,omitempty"`
	CurrentStage   string   `json:"current_stage"`
	Description    string   `json:"description"`
	Source         string   `json:"source"`
	RunID          string   `json:"run_id,omitempty"`
	Status         string   `json:"status"`
	StatusMessage  string   `json:"status_message,omitempty"`
	Tags           []wTag   `json:"tags,omitempty"`
	RunLink        string   `json:"run_link,omitempty"`
	Aliases        []string `json:"aliases,omitempty"`
	ModelID        string   `json:"model_id,omitempty"`
}

type wRegisteredModel struct {
	Name           string          `json:"name"`
	CreationTime   int64           `json:"creation_timestamp"`
	LastUpdateTime int64           `json:"last_updated_timestamp"`
	UserID         string          `json:"user_id,omitempty"`
	Description    string          `json:"description,omitempty"`
	LatestVersions []wModelVersion `json:"latest_versions,omitempty"`
	Tags           []wTag          `json:"tags,omitempty"`
	Aliases        []wAlias        `json:"aliases,omitempty"`
}

func versionOut(v *registry.Version) wModelVersion {
	return wModelVersion{v.Name, v.Version, v.CreationTime, v.LastUpdateTime, v.UserID, v.CurrentStage, v.Description,
		v.Source, v.RunID, v.Status, v.StatusMessage, tagsOut(v.Tags), v.RunLink, v.Aliases, v.ModelID}
}

func versionsOut(vs []*registry.Version) []wModelVersion {
	out := make([]wModelVersion, len(vs))
	for i, v := range vs {
		out[i] = versionOut(v)
	}
	return out
}

func registeredOut(m *registry.Model) wRegisteredModel {
	out := wRegisteredModel{Name: m.Name, CreationTime: m.CreationTime, LastUpdateTime: m.LastUpdateTime,
		UserID: m.UserID, Description: m.Description, Tags: tagsOut(m.Tags)}
	if len(m.LatestVersions) > 0 {
		out.LatestVersions = versionsOut(m.LatestVersions)
	}
	for _, a := range m.Aliases {
		out.Aliases = append(out.Aliases, wAlias{a.Alias, a.Version})
	}
	return out
}

// searchReq is the request of both registry searches.
type searchReq struct {
	Filter     string `json:"filter"`
	MaxResults jint   `json:"max_results"`
	OrderBy    jstrs  `json:"order_by"`
	PageToken  string `json:"page_token"`
}

// decodeSearch reads a registry search whose max_results MLflow's request
// schema bounds by limit.
func (s *Server) decodeSearch(r *http.Request, limit int64) (searchReq, error) {
	var req searchReq
	if err := s.decode(r, &req); err != nil {
		return req, err
	}
	if err := overLimit("max_results", req.MaxResults, limit); err != nil {
		return req, err
	}
	return req, positive("max_results", req.MaxResults)
}

// nameReq and versionReq are the identifying fields of registry requests.
type nameReq struct {
	Name string `json:"name"`
}

type versionReq struct {
	Name    string `json:"name"`
	Version jstr   `json:"version"`
}

func (s *Server) routeRegistry() {
	reg := s.Registry
	modelResp := func(m *registry.Model, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return map[string]any{"registered_model": registeredOut(m)}, nil
	}
	versionResp := func(v *registry.Version, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return map[string]any{"model_version": versionOut(v)}, nil
	}
	s.handle("POST", "registered-models/create", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name        string `json:"name"`
			Tags        []wTag `json:"tags"`
			Description string `json:"description"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := s.checkCreate(ctx, auth.RegisteredModel, req.Name); err != nil {
			return nil, err
		}
		m, err := reg.CreateModel(ctx, req.Name, req.Description, tagsIn(req.Tags))
		if err == nil {
			err = s.grantCreator(ctx, auth.RegisteredModel, m.Name)
		}
		return modelResp(m, err)
	})
	s.handle("GET", "registered-models/get", modelRule(auth.NeedRead), func(ctx context.Context, r *http.Request) (any, error) {
		var req nameReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return modelResp(reg.GetModel(ctx, req.Name))
	})
	s.handle("POST", "registered-models/rename", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name    string `json:"name"`
			NewName string `json:"new_name"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := s.checkNotServed("rename", req.Name); err != nil {
			return nil, err
		}
		m, err := reg.RenameModel(ctx, req.Name, req.NewName)
		if err == nil && s.Auth != nil {
			err = s.Auth.Renamed(ctx, auth.RegisteredModel, req.Name, m.Name)
		}
		return modelResp(m, err)
	})
	s.handle("PATCH", "registered-models/update", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return modelResp(reg.UpdateModel(ctx, req.Name, req.Description))
	})
	s.handle("DELETE", "registered-models/delete", modelRule(auth.NeedDelete), func(ctx context.Context, r *http.Request) (any, error) {
		var req nameReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := s.checkNotServed("delete", req.Name); err != nil {
			return nil, err
		}
		if err := reg.DeleteModel(ctx, req.Name); err != nil {
			return nil, err
		}
		if s.Auth != nil {
			return empty{}, s.Auth.Deleted(ctx, auth.RegisteredModel, req.Name)
		}
		return empty{}, nil
	})
	search := func(ctx context.Context, r *http.Request) (any, error) {
		req, err := s.decodeSearch(r, registry.MaxResults)
		if err != nil {
			return nil, err
		}
		models, next, err := reg.SearchModels(ctx, req.Filter, req.OrderBy, int(req.MaxResults.V), req.PageToken)
		if err != nil {
			return nil, err
		}
		resp := map[string]any{}
		if len(models) > 0 {
			out := make([]wRegisteredModel, len(models))
			for i, m := range models {
				out[i] = registeredOut(m)
			}
			resp["registered_models"] = out
		}
		if next != "" {
			resp["next_page_token"] = next
		}
		return resp, nil
	}
	s.handle("GET", "registered-models/search", SignedInRule(), search)
	latest := func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name   string `json:"name"`
			Stages jstrs  `json:"stages"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		vs, err := reg.LatestVersions(ctx, req.Name, req.Stages)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return empty{}, nil
		}
		return map[string]any{"model_versions": versionsOut(vs)}, nil
	}
	s.handle("POST", "registered-models/get-latest-versions", modelRule(auth.NeedRead), latest)
	s.handle("GET", "registered-models/get-latest-versions", modelRule(auth.NeedRead), latest)
	s.handle("POST", "registered-models/set-tag", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name  string `json:"name"`
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.SetModelTag(ctx, req.Name, tracking.Tag{Key: req.Key, Value: req.Value})
	})
	s.handle("DELETE", "registered-models/delete-tag", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.DeleteModelTag(ctx, req.Name, req.Key)
	})
	s.handle("POST", "registered-models/alias", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name    string `json:"name"`
			Alias   string `json:"alias"`
			Version jstr   `json:"version"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.SetAlias(ctx, req.Name, req.Alias, string(req.Version))
	})
	s.handle("DELETE", "registered-models/alias", modelRule(auth.NeedDelete), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name  string `json:"name"`
			Alias string `json:"alias"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.DeleteAlias(ctx, req.Name, req.Alias)
	})
	s.handle("GET", "registered-models/alias", modelRule(auth.NeedRead), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name  string `json:"name"`
			Alias string `json:"alias"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return versionResp(reg.GetVersionByAlias(ctx, req.Name, req.Alias))
	})

	s.handle("POST", "model-versions/create", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name        string `json:"name"`
			Source      string `json:"source"`
			RunID       string `json:"run_id"`
			Tags        []wTag `json:"tags"`
			RunLink     string `json:"run_link"`
			Description string `json:"description"`
			ModelID     string `json:"model_id"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return versionResp(reg.CreateVersion(ctx, registry.CreateVersionRequest{
			Name: req.Name, Source: req.Source, RunID: req.RunID, RunLink: req.RunLink,
			Description: req.Description, ModelID: req.ModelID, Tags: tagsIn(req.Tags),
		}))
	})
	s.handle("GET", "model-versions/get", modelRule(auth.NeedRead), func(ctx context.Context, r *http.Request) (any, error) {
		var req versionReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return versionResp(reg.GetVersion(ctx, req.Name, string(req.Version)))
	})
	s.handle("PATCH", "model-versions/update", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			versionReq
			Description string `json:"description"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return versionResp(reg.UpdateVersion(ctx, req.Name, string(req.Version), req.Description))
	})
	s.handle("POST", "model-versions/transition-stage", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			versionReq
			Stage   string `json:"stage"`
			Archive bool   `json:"archive_existing_versions"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return versionResp(reg.TransitionStage(ctx, req.Name, string(req.Version), req.Stage, req.Archive))
	})
	s.handle("DELETE", "model-versions/delete", modelRule(auth.NeedDelete), func(ctx context.Context, r *http.Request) (any, error) {
		var req versionReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.DeleteVersion(ctx, req.Name, string(req.Version))
	})
	s.handle("GET", "model-versions/search", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		req, err := s.decodeSearch(r, registry.MaxVersionResults)
		if err != nil {
			return nil, err
		}
		vs, next, err := reg.SearchVersions(ctx, req.Filter, req.OrderBy, int(req.MaxResults.V), req.PageToken)
		if err != nil {
			return nil, err
		}
		resp := map[string]any{}
		if len(vs) > 0 {
			resp["model_versions"] = versionsOut(vs)
		}
		if next != "" {
			resp["next_page_token"] = next
		}
		return resp, nil
	})
	s.handle("GET", "model-versions/get-download-uri", modelRule(auth.NeedRead), func(ctx context.Context, r *http.Request) (any, error) {
		var req versionReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		uri, err := reg.DownloadURI(ctx, req.Name, string(req.Version))
		if err != nil {
			return nil, err
		}
		return map[string]string{"artifact_uri": uri}, nil
	})
	s.handle("POST", "model-versions/set-tag", modelRule(auth.NeedUpdate), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			versionReq
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.SetVersionTag(ctx, req.Name, string(req.Version), tracking.Tag{Key: req.Key, Value: req.Value})
	})
	s.handle("DELETE", "model-versions/delete-tag", modelRule(auth.NeedDelete), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			versionReq
			Key string `json:"key"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		return empty{}, reg.DeleteVersionTag(ctx, req.Name, string(req.Version), req.Key)
	})
}

type wLibrary struct {
	Flavors       []string `json:"flavors"`
	InputColumns  int      `json:"input_columns"`
	InputTypes    []string `json:"input_types"`
	OutputColumns int      `json:"output_columns"`
	OutputTypes   []string `json:"output_types"`
	Signature     struct {
		Inputs  string `json:"inputs,omitempty"`
		Outputs string `json:"outputs,omitempty"`
	} `json:"signature"`
}

type wLibraryVersion struct {
	wModelVersion
	Library wLibrary `json:"library"`
}

// routeLibrary serves Lode's model library search, an extension of the
// MLflow API: GET /api/2.0/lode/model-library/search finds model versions
// by name (LIKE pattern), tags (tag=key=value, repeatable), flavor and
// signature (input_columns, input_type, output_columns, output_type).
func (s *Server) routeLibrary() {
	h := func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name          string `json:"name"`
			Tag           jstrs  `json:"tag"`
			Flavor        string `json:"flavor"`
			InputColumns  jint   `json:"input_columns"`
			InputType     string `json:"input_type"`
			OutputColumns jint   `json:"output_columns"`
			OutputType    string `json:"output_type"`
			LatestOnly    string `json:"latest_only"`
			MaxResults    jint   `json:"max_results"`
		}
		if err := s.decode(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		q := registry.LibraryQuery{NameLike: req.Name, Flavor: req.Flavor, InputColumns: int(req.InputColumns.V),
			InputType: req.InputType, OutputColumns: int(req.OutputColumns.V), OutputType: req.OutputType,
			LatestOnly: req.LatestOnly == "true" || req.LatestOnly == "1", MaxResults: int(req.MaxResults.V)}
		for _, t := range req.Tag {
			k, v, ok := strings.Cut(t, "=")
			if !ok || k == "" {
				s.writeError(w, r, lode.Errorf(lode.EInvalid, "Invalid tag filter '%s': want key=value.", t))
				return
			}
			if q.Tags == nil {
				q.Tags = map[string]string{}
			}
			q.Tags[k] = v
		}
		vs, err := s.Registry.SearchLibrary(r.Context(), q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]wLibraryVersion, len(vs))
		for i, v := range vs {
			lib := v.Library
			out[i] = wLibraryVersion{wModelVersion: versionOut(v)}
			out[i].Library = wLibrary{Flavors: lib.Flavors, InputColumns: lib.InputColumns, InputTypes: lib.InputTypes,
				OutputColumns: lib.OutputColumns, OutputTypes: lib.OutputTypes}
			out[i].Library.Signature.Inputs, out[i].Library.Signature.Outputs = lib.SignatureInputs, lib.SignatureOutputs
		}
		writeJSON(w, http.StatusOK, map[string]any{"model_versions": out})
	}
	s.route("GET /api/2.0/lode/model-library/search", SignedInRule(), h)
	s.route("GET /ajax-api/2.0/lode/model-library/search", SignedInRule(), h)
}
