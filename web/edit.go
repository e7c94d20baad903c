package web

import (
	"context"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/mlflowapi"
	"github.com/lode-ml/lode/tracking"
)

// editable is what the description and tag editors (templates/_editors.html,
// static/edit.js) get: a run, a registered model or a model version, its
// text and tags, and what the viewer may change. The forms call the same
// REST API the mlflow client does, which checks the permission again: the
// page only leaves out forms its viewer could not use.
type editable struct {
	Kind                 string // run, model or version
	RunID, Name, Version string
	Note                 string
	Tags                 []tracking.Tag
	// CanEdit: the viewer may set the description and tags (EDIT);
	// CanDeleteTags: and delete tags, which for a model version MLflow
	// counts as deleting (MANAGE), for a run or a model as editing.
	CanEdit, CanDeleteTags bool
	// The ids of the text and of the tag table, for links and tests.
	NoteID, TagsID string
}

// runEditable is a run's description (its mlflow.note.content tag) and
// user tags.
func (s *Server) runEditable(ctx context.Context, runID, note string, tags []tracking.Tag) editable {
	e := editable{Kind: "run", RunID: runID, Note: note, Tags: tags, NoteID: "run-note", TagsID: "tags"}
	e.CanEdit = s.Guard.CheckTarget(ctx, mlflowapi.TargetRun, runID, auth.NeedUpdate, false) == nil
	e.CanDeleteTags = e.CanEdit
	return e
}

// modelEditable is a registered model's description and tags.
func (s *Server) modelEditable(ctx context.Context, name, description string, tags []tracking.Tag) editable {
	e := editable{Kind: "model", Name: name, Note: description, Tags: tags, NoteID: "model-description", TagsID: "model-tags"}
	e.CanEdit = s.Guard.CheckTarget(ctx, mlflowapi.TargetModel, name, auth.NeedUpdate, false) == nil
	e.CanDeleteTags = e.CanEdit
	return e
}

// versionEditable is a model version's description and tags.
func (s *Server) versionEditable(ctx context.Context, name, version, description string, tags []tracking.Tag) editable {
	e := editable{Kind: "version", Name: name, Version: version, Note: description, Tags: tags, NoteID: "version-description", TagsID: "version-tags"}
	e.CanEdit = s.Guard.CheckTarget(ctx, mlflowapi.TargetModel, name, auth.NeedUpdate, false) == nil
	e.CanDeleteTags = s.Guard.CheckTarget(ctx, mlflowapi.TargetModel, name, auth.NeedDelete, false) == nil
	return e
}
