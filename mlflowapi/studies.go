package mlflowapi

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/tuner"
)

// Studies is what the studies API needs of the study runner
// (tuner.Runner).
type Studies interface {
	Create(ctx context.Context, spec tuner.Spec) (*tuner.View, error)
	Get(ctx context.Context, id int64) (*tuner.View, error)
	GetByName(ctx context.Context, name string) (*tuner.View, error)
	List(ctx context.Context) ([]*tuner.View, error)
	Stop(ctx context.Context, id int64) (*tuner.View, error)
	Resume(ctx context.Context, id int64) (*tuner.View, error)
}

var _ Studies = (*tuner.Runner)(nil)

// studyReq names one study: by id, else by name.
type studyReq struct {
	ID   jint   `json:"study_id"`
	Name string `json:"name"`
}

// createStudyReq is a study spec whose experiment id may be a number.
type createStudyReq struct {
	tuner.Spec
	ExperimentID jstr `json:"experiment_id"`
}

// routeStudies serves the studies API (docs/tuning.md):
//
//	POST /api/2.0/lode/studies/create  {study spec}          → {study}
//	GET  /api/2.0/lode/studies/get?study_id=ID | name=NAME   → {study} (with its trials)
//	GET  /api/2.0/lode/studies/list                          → {studies}
//	POST /api/2.0/lode/studies/stop    {study_id}            → {study}
//	POST /api/2.0/lode/studies/resume  {study_id}            → {study}
//
// A study runs code as jobs do: creating or resuming one takes what
// submitting a job takes (UPDATE on its experiment, and an admin unless
// the server allows user code); reading one takes READ on its experiment,
// stopping one UPDATE.
func (s *Server) routeStudies() {
	s.handleJobs("POST", "studies/create", On(TargetExperiment, auth.NeedUpdate, "experiment_id"), func(ctx context.Context, r *http.Request) (any, error) {
		var req createStudyReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		spec := req.Spec
		spec.ExperimentID, spec.Owner = string(req.ExperimentID), ""
		if spec.WorkDir != "" && !filepath.IsAbs(spec.WorkDir) {
			return nil, lode.Errorf(lode.EInvalid, "Invalid value '%s' for parameter 'work_dir': it must be an absolute path on the server's machine.", spec.WorkDir)
		}
		if !s.Guard.Open() {
			if err := s.mayRunCode(ctx, "create studies"); err != nil {
				return nil, err
			}
			id := auth.FromContext(ctx)
			spec.User, spec.Owner = id.Name(), id.Name()
		}
		v, err := s.Studies.Create(ctx, spec)
		if err != nil {
			return nil, err
		}
		return map[string]any{"study": v}, nil
	})
	s.handleJobs("GET", "studies/get", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		v, err := s.study(ctx, r, auth.NeedRead)
		if err != nil {
			return nil, err
		}
		return map[string]any{"study": s.studyOut(ctx, v)}, nil
	})
	s.handleJobs("GET", "studies/list", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		vs, err := s.Studies.List(ctx)
		if err != nil {
			return nil, err
		}
		out := []*tuner.View{}
		for _, v := range vs {
			if s.Guard.CheckTarget(ctx, TargetExperiment, v.ExperimentID, auth.NeedRead, false) == nil {
				out = append(out, s.studyOut(ctx, v))
			}
		}
		return map[string]any{"studies": out}, nil
	})
	s.handleJobs("POST", "studies/stop", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		v, err := s.study(ctx, r, auth.NeedUpdate)
		if err != nil {
			return nil, err
		}
		if v, err = s.Studies.Stop(ctx, v.ID); err != nil {
			return nil, err
		}
		return map[string]any{"study": s.studyOut(ctx, v)}, nil
	})
	s.handleJobs("POST", "studies/resume", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		v, err := s.study(ctx, r, auth.NeedUpdate)
		if err != nil {
			return nil, err
		}
		if !s.Guard.Open() {
			if err := s.mayRunCode(ctx, "resume studies"); err != nil {
				return nil, err
			}
		}
		if v, err = s.Studies.Resume(ctx, v.ID); err != nil {
			return nil, err
		}
		return map[string]any{"study": s.studyOut(ctx, v)}, nil
	})
}

// studyOut is a study as its caller may see it: the values of its trials'
// environment variables (which may hold credentials) only for its owner
// and admins, as jobOut shows a job's.
func (s *Server) studyOut(ctx context.Context, v *tuner.View) *tuner.View {
	id := auth.FromContext(ctx)
	if s.Guard.Open() || id.Admin() || len(v.Spec.Trial.Env) == 0 || (v.Spec.Owner != "" && v.Spec.Owner == id.Name()) {
		return v
	}
	c := *v
	c.Spec.Trial.Env = make(map[string]string, len(v.Spec.Trial.Env))
	for k := range v.Spec.Trial.Env {
		c.Spec.Trial.Env[k] = Redacted
	}
	return &c
}

// mayRunCode refuses a caller who may not run code on the server, as
// jobs/submit does.
func (s *Server) mayRunCode(ctx context.Context, what string) error {
	if s.UserCode || auth.FromContext(ctx).Admin() {
		return nil
	}
	return auth.Denied("only admins may %s on this server: a study's trials run as the server's operating-system user, "+
		"so they could do anything the server can. Ask an admin to run it, or to start the server with --allow-user-code.", what)
}

// study finds the study a request names and checks the caller's need on
// its experiment.
func (s *Server) study(ctx context.Context, r *http.Request, need auth.Need) (*tuner.View, error) {
	var req studyReq
	if err := s.decode(r, &req); err != nil {
		return nil, err
	}
	var v *tuner.View
	var err error
	switch {
	case req.ID.Set:
		v, err = s.Studies.Get(ctx, req.ID.V)
	case req.Name != "":
		v, err = s.Studies.GetByName(ctx, req.Name)
	default:
		return nil, lode.Errorf(lode.EInvalid, "Missing value for required parameter 'study_id' (or 'name').")
	}
	if err != nil {
		return nil, err
	}
	if err := s.Guard.CheckTarget(ctx, TargetExperiment, v.ExperimentID, need, false); err != nil {
		return nil, err
	}
	return v, nil
}

// The client side of the studies API, for `lode tune`.

type studyResp struct {
	Study *tuner.View `json:"study"`
}

func studyQuery(ref string) url.Values {
	if _, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return url.Values{"study_id": {ref}}
	}
	return url.Values{"name": {ref}}
}

// CreateStudy creates and starts a study.
func (c *Client) CreateStudy(ctx context.Context, spec tuner.Spec) (*tuner.View, error) {
	var out studyResp
	if err := c.callPath(ctx, http.MethodPost, "/api/2.0/lode/studies/create", nil, spec, &out); err != nil {
		return nil, err
	}
	return out.Study, studyMissing(out.Study)
}

// GetStudy returns a study, named by its id or its name, with its trials.
func (c *Client) GetStudy(ctx context.Context, ref string) (*tuner.View, error) {
	var out studyResp
	if err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/studies/get", studyQuery(ref), nil, &out); err != nil {
		return nil, err
	}
	return out.Study, studyMissing(out.Study)
}

// ListStudies returns the studies the caller may read.
func (c *Client) ListStudies(ctx context.Context) ([]*tuner.View, error) {
	var out struct {
		Studies []*tuner.View `json:"studies"`
	}
	if err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/studies/list", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Studies, nil
}

// StopStudy stops a running study; ResumeStudy resumes a stopped one.
func (c *Client) StopStudy(ctx context.Context, ref string) (*tuner.View, error) {
	return c.studyAction(ctx, "stop", ref)
}

// ResumeStudy resumes a stopped or failed study.
func (c *Client) ResumeStudy(ctx context.Context, ref string) (*tuner.View, error) {
	return c.studyAction(ctx, "resume", ref)
}

func (c *Client) studyAction(ctx context.Context, action, ref string) (*tuner.View, error) {
	body := map[string]any{"name": ref}
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		body = map[string]any{"study_id": n}
	}
	var out studyResp
	if err := c.callPath(ctx, http.MethodPost, "/api/2.0/lode/studies/"+action, nil, body, &out); err != nil {
		return nil, err
	}
	return out.Study, studyMissing(out.Study)
}

func studyMissing(v *tuner.View) error {
	if v == nil {
		return lode.Errorf(lode.EInternal, "the server's answer holds no study")
	}
	return nil
}
