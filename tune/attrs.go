package tune

// System attributes by which Lode ties a study or trial to the rest of
// Lode. Their values are JSON strings, as every attribute's value is JSON.
// A study with ExperimentAttr takes that experiment's permissions in the
// UI (READ on it shows the study); one without is for admins only, as
// Optuna's storage service is, when authentication is on.
const (
	// ExperimentAttr is the id of the experiment a study belongs to.
	ExperimentAttr = "lode.experiment_id"
	// RunAttr is the run of a study (its parent run) or of a trial.
	RunAttr = "lode.run_id"
	// ReasonAttr says why a trial was pruned (which rung, below what) or
	// failed.
	ReasonAttr = "lode.reason"
)
