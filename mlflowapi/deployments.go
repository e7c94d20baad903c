package mlflowapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/serving"
)

// Deployments is what the deployments API needs of the model server
// (serving.Manager).
type Deployments interface {
	Create(ctx context.Context, d serving.Deployment) (*serving.DeploymentStatus, error)
	Get(name string) (*serving.DeploymentStatus, error)
	List() []serving.DeploymentStatus
	Delete(ctx context.Context, name string) error
}

// handleLode registers fn under Lode's own API prefixes (extensions of the
// MLflow API live under /api/2.0/lode/).
func (s *Server) handleLode(method, path string, rule Rule, fn apiFunc) {
	s.handleUnder([]string{"/api/2.0/lode/", "/ajax-api/2.0/lode/"}, method, path, rule, fn)
}

// routeDeployments serves the deployments API:
//
//	POST   /api/2.0/lode/deployments/create  {name, model_uri, runtime, workers, max_queue, timeout_ms}
//	GET    /api/2.0/lode/deployments/get?name=N
//	GET    /api/2.0/lode/deployments/list
//	DELETE /api/2.0/lode/deployments/delete  {name}
func (s *Server) routeDeployments() {
	s.handleLode("POST", "deployments/create", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		var req struct {
			Name          string `json:"name"`
			ModelURI      string `json:"model_uri"`
			Runtime       string `json:"runtime"`
			Workers       jint   `json:"workers"`
			MaxQueue      jint   `json:"max_queue"`
			TimeoutMillis jint   `json:"timeout_ms"`
		}
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if req.Name == "" || req.ModelURI == "" {
			return nil, lode.Invalid(lode.MsgMissing, map[bool]string{true: "name", false: "model_uri"}[req.Name == ""])
		}
		_, err := s.Deployments.Get(req.Name)
		exists := err == nil
		if err := s.checkDeploy(ctx, req.Name, req.ModelURI, req.Runtime, exists); err != nil {
			return nil, err
		}
		st, err := s.Deployments.Create(ctx, serving.Deployment{Name: req.Name, ModelURI: req.ModelURI, Runtime: req.Runtime,
			Workers: int(req.Workers.V), MaxQueue: int(req.MaxQueue.V), TimeoutMillis: req.TimeoutMillis.V})
		if err != nil {
			return nil, err
		}
		if !exists {
			if err := s.grantCreator(ctx, auth.Deployment, req.Name); err != nil {
				return nil, err
			}
		}
		return map[string]any{"deployment": st}, nil
	})
	s.handleLode("GET", "deployments/get", On(TargetDeployment, auth.NeedRead, "name"), func(ctx context.Context, r *http.Request) (any, error) {
		var req nameReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		st, err := s.Deployments.Get(req.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"deployment": st}, nil
	})
	s.handleLode("GET", "deployments/list", SignedInRule(), func(ctx context.Context, r *http.Request) (any, error) {
		sc, err := s.Guard.Readable(ctx, string(auth.Deployment))
		if err != nil {
			return nil, err
		}
		out := []serving.DeploymentStatus{}
		for _, d := range s.Deployments.List() {
			if sc.Has(d.Name) {
				out = append(out, d)
			}
		}
		return map[string]any{"deployments": out}, nil
	})
	s.handleLode("DELETE", "deployments/delete", On(TargetDeployment, auth.NeedDelete, "name"), func(ctx context.Context, r *http.Request) (any, error) {
		var req nameReq
		if err := s.decode(r, &req); err != nil {
			return nil, err
		}
		if err := s.Deployments.Delete(ctx, req.Name); err != nil {
			return nil, err
		}
		if s.Auth != nil {
			return map[string]any{}, s.Auth.Deleted(ctx, auth.Deployment, req.Name)
		}
		return map[string]any{}, nil
	})
}

// checkDeploy checks that the caller may deploy a model: replace the
// deployment (when it exists) and edit what it serves, as they must to
// submit a job to an experiment. Loading a Python model runs its code
// (its loader, code/, the packages pip installs for it) as the server's
// OS user, so, like a job, only admins may deploy one unless the server
// lets users run code. A deployment forced onto ONNX Runtime runs none:
// the runtime reads the graph in this process and refuses every version
// without an onnx flavor, also those an alias moves to later.
func (s *Server) checkDeploy(ctx context.Context, name, modelURI, runtime string, exists bool) error {
	if s.Guard.Open() {
		return nil
	}
	if exists {
		if err := s.Guard.CheckTarget(ctx, TargetDeployment, name, auth.NeedUpdate, false); err != nil {
			return err
		}
	}
	ref, err := serving.ParseModelURI(modelURI)
	if err != nil {
		return err
	}
	switch ref.Kind {
	case serving.RefRegistry:
		err = s.Guard.CheckTarget(ctx, TargetModel, ref.Name, auth.NeedUpdate, false)
	case serving.RefRun:
		err = s.Guard.CheckTarget(ctx, TargetRun, ref.RunID, auth.NeedUpdate, false)
	} // the server refuses other sources itself
	if err != nil {
		return err
	}
	if runtime != "onnx" && !s.UserCode && !auth.FromContext(ctx).Admin() {
		return auth.Denied("only admins may deploy models that run Python on this server: a Python model's code runs as the server's operating-system user. " +
			"Deploy it with runtime onnx (lode deploy create --runtime onnx) if it has an onnx flavor, ask an admin to deploy it, " +
			"or to start the server with --allow-user-code.")
	}
	return nil
}

// checkNotServed refuses to delete or rename (doing) a registered model
// that a deployment serves by name: the name would be free, and whoever
// created a model under it, with a version and the alias the deployment
// follows, would choose what it serves (and, in Python, the code it runs).
// MLflow has no deployments and so no such rule; its clients take
// INVALID_PARAMETER_VALUE as a refusal without retrying.
func (s *Server) checkNotServed(doing, name string) error {
	if s.Deployments == nil {
		return nil
	}
	var names []string
	for _, d := range s.Deployments.List() {
		if ref, err := serving.ParseModelURI(d.ModelURI); err == nil && ref.Kind == serving.RefRegistry && ref.Name == name {
			names = append(names, "'"+d.Name+"'")
		}
	}
	switch len(names) {
	case 0:
		return nil
	case 1:
		return lode.Errorf(lode.EInvalid, "Cannot %s registered model '%s': deployment %s serves it. Delete the deployment first.", doing, name, names[0])
	}
	slices.Sort(names)
	return lode.Errorf(lode.EInvalid, "Cannot %s registered model '%s': deployments %s serve it. Delete the deployments first.", doing, name, strings.Join(names, ", "))
}

// CreateDeployment creates a deployment.
func (c *Client) CreateDeployment(ctx context.Context, d serving.Deployment) (*serving.DeploymentStatus, error) {
	var out struct {
		Deployment serving.DeploymentStatus `json:"deployment"`
	}
	if err := c.callPath(ctx, http.MethodPost, "/api/2.0/lode/deployments/create", nil, d, &out); err != nil {
		return nil, err
	}
	return &out.Deployment, nil
}

// GetDeployment returns a deployment's status.
func (c *Client) GetDeployment(ctx context.Context, name string) (*serving.DeploymentStatus, error) {
	var out struct {
		Deployment serving.DeploymentStatus `json:"deployment"`
	}
	if err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/deployments/get", url.Values{"name": {name}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.Deployment, nil
}

// ListDeployments lists the server's deployments.
func (c *Client) ListDeployments(ctx context.Context) ([]serving.DeploymentStatus, error) {
	var out struct {
		Deployments []serving.DeploymentStatus `json:"deployments"`
	}
	err := c.callPath(ctx, http.MethodGet, "/api/2.0/lode/deployments/list", nil, nil, &out)
	return out.Deployments, err
}

// DeleteDeployment deletes a deployment.
func (c *Client) DeleteDeployment(ctx context.Context, name string) error {
	return c.callPath(ctx, http.MethodDelete, "/api/2.0/lode/deployments/delete", nil, map[string]string{"name": name}, nil)
}
