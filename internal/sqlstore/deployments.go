package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/lode-ml/lode/serving"
)

var _ serving.DeploymentStore = (*Store)(nil)

// PutDeployment implements serving.DeploymentStore: it creates or replaces
// a deployment.
func (db *Store) PutDeployment(ctx context.Context, d serving.Deployment) error {
	spec, err := json.Marshal(d)
	if err != nil {
		return db.dbErr(err)
	}
	_, err = db.w.Exec(ctx, `INSERT INTO deployments (name, spec, creation_time) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec`, d.Name, string(spec), d.CreationTime)
	return db.dbErr(err)
}

// DeleteDeployment implements serving.DeploymentStore.
func (db *Store) DeleteDeployment(ctx context.Context, name string) error {
	_, err := db.w.Exec(ctx, `DELETE FROM deployments WHERE name = ?`, name)
	return db.dbErr(err)
}

// ListDeployments implements serving.DeploymentStore, by name.
func (db *Store) ListDeployments(ctx context.Context) ([]serving.Deployment, error) {
	out, err := queryAll(ctx, db.r, `SELECT spec FROM deployments ORDER BY name`, nil, func(rows Rows) (serving.Deployment, error) {
		var spec string
		var d serving.Deployment
		if err := rows.Scan(&spec); err != nil {
			return d, err
		}
		return d, json.Unmarshal([]byte(spec), &d)
	})
	return out, db.dbErr(err)
}
