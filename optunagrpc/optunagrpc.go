// Package optunagrpc serves Optuna's storage protocol, the gRPC service
// optuna.StorageService that Optuna 4.2+ speaks through
// optuna.storages.GrpcStorageProxy, over Lode's study store (tune), so
// that Optuna's own code, samplers and pruners keep their studies in
// Lode. Optuna's clients turn the status codes back into the exceptions
// its own storages raise: NOT_FOUND into KeyError, ALREADY_EXISTS into
// DuplicatedStudyError, FAILED_PRECONDITION into UpdateFinishedTrialError
// and INVALID_ARGUMENT into ValueError; this package is the one place a
// lode.Error becomes a gRPC status.
//
// The service answers HTTP/2 requests as an http.Handler (Handler), so it
// shares the server's port, gate and authentication with the MLflow API.
package optunagrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"net/http"
	"reflect"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/optunagrpc/optunapb"
	"github.com/lode-ml/lode/tune"
)

// ServicePath is the path prefix of the service's methods
// (/optuna.StorageService/CreateNewStudy, ...).
const ServicePath = "/optuna.StorageService/"

// Server implements optuna.StorageService over a study service.
type Server struct {
	optunapb.UnimplementedStorageServiceServer
	Studies *tune.Service
	Logger  *slog.Logger
	// Location is the time zone of times an Optuna 4 client sends, which
	// carry none (its local time); nil is time.Local.
	Location *time.Location
}

// Handler returns the service as an http.Handler: gRPC calls over HTTP/2
// (IsCall); anything else is told what the path is for.
func (s *Server) Handler() http.Handler {
	g := grpc.NewServer()
	optunapb.RegisterStorageServiceServer(g, s)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsCall(r) {
			http.Error(w, "This is Optuna's gRPC storage service: it takes gRPC calls over HTTP/2 (optuna.storages.GrpcStorageProxy).", http.StatusUnsupportedMediaType)
			return
		}
		g.ServeHTTP(w, r)
	})
}

// IsCall reports whether r is a gRPC call.
func IsCall(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// Refuse answers a gRPC call with err's status alone (a trailers-only
// response), before the service sees it: how a caller the server's
// authentication or permissions turn away learns why.
func (s *Server) Refuse(w http.ResponseWriter, err error) {
	st := s.status(err)
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", fmt.Sprint(int(st.Code())))
	h.Set("Grpc-Message", encodeGrpcMessage(st.Message()))
	w.WriteHeader(http.StatusOK)
}

// encodeGrpcMessage percent-encodes what gRPC's spec says a grpc-message
// header must not carry raw.
func encodeGrpcMessage(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// status turns an error into the gRPC status Optuna's client expects.
// Internal errors are logged and shown as a generic message.
func (s *Server) status(err error) *status.Status {
	var code codes.Code
	switch lode.ErrorCode(err) {
	case lode.ENotFound:
		code = codes.NotFound
	case lode.EExists:
		code = codes.AlreadyExists
	case lode.EInvalidState:
		code = codes.FailedPrecondition
	case lode.EInvalid, lode.EBadRequest:
		code = codes.InvalidArgument
	case lode.EUnauthenticated:
		code = codes.Unauthenticated
	case lode.EPermission:
		code = codes.PermissionDenied
	case lode.EUnavailable:
		code = codes.Unavailable
	case lode.EOverloaded, lode.ETooLarge:
		code = codes.ResourceExhausted
	case lode.EDeadline:
		code = codes.DeadlineExceeded
	case lode.ENotImplemented:
		code = codes.Unimplemented
	default:
		if errors.Is(err, context.Canceled) {
			return status.New(codes.Canceled, "The call was cancelled.")
		}
		if s.Logger != nil {
			s.Logger.Error("optuna storage", "err", err)
		}
		return status.New(codes.Internal, lode.ErrorMessage(err))
	}
	return status.New(code, lode.ErrorMessage(err))
}

func (s *Server) err(err error) error {
	if err == nil {
		return nil
	}
	return s.status(err).Err()
}

func (s *Server) store() tune.Store { return s.Studies.Store }

func (s *Server) loc() *time.Location {
	if s.Location != nil {
		return s.Location
	}
	return time.Local
}

func (s *Server) CreateNewStudy(ctx context.Context, req *optunapb.CreateNewStudyRequest) (*optunapb.CreateNewStudyReply, error) {
	st := &tune.Study{Name: req.GetStudyName()}
	for _, d := range req.GetDirections() {
		dir, err := fromDirection(d)
		if err != nil {
			return nil, s.err(err)
		}
		st.Directions = append(st.Directions, dir)
	}
	id, err := s.Studies.CreateStudy(ctx, st)
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.CreateNewStudyReply{StudyId: id}, nil
}

func (s *Server) DeleteStudy(ctx context.Context, req *optunapb.DeleteStudyRequest) (*optunapb.DeleteStudyReply, error) {
	return &optunapb.DeleteStudyReply{}, s.err(s.store().DeleteStudy(ctx, req.GetStudyId()))
}

func (s *Server) SetStudyUserAttribute(ctx context.Context, req *optunapb.SetStudyUserAttributeRequest) (*optunapb.SetStudyUserAttributeReply, error) {
	if err := checkJSON(req.GetKey(), req.GetValue()); err != nil {
		return nil, s.err(err)
	}
	return &optunapb.SetStudyUserAttributeReply{}, s.err(s.store().SetStudyAttr(ctx, req.GetStudyId(), tune.UserAttr, req.GetKey(), req.GetValue()))
}

func (s *Server) SetStudySystemAttribute(ctx context.Context, req *optunapb.SetStudySystemAttributeRequest) (*optunapb.SetStudySystemAttributeReply, error) {
	if err := checkJSON(req.GetKey(), req.GetValue()); err != nil {
		return nil, s.err(err)
	}
	return &optunapb.SetStudySystemAttributeReply{}, s.err(s.store().SetStudyAttr(ctx, req.GetStudyId(), tune.SystemAttr, req.GetKey(), req.GetValue()))
}

func (s *Server) GetStudyIdFromName(ctx context.Context, req *optunapb.GetStudyIdFromNameRequest) (*optunapb.GetStudyIdFromNameReply, error) {
	st, err := s.store().GetStudyByName(ctx, req.GetStudyName())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetStudyIdFromNameReply{StudyId: st.ID}, nil
}

func (s *Server) GetStudyNameFromId(ctx context.Context, req *optunapb.GetStudyNameFromIdRequest) (*optunapb.GetStudyNameFromIdReply, error) {
	st, err := s.store().GetStudy(ctx, req.GetStudyId())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetStudyNameFromIdReply{StudyName: st.Name}, nil
}

func (s *Server) GetStudyDirections(ctx context.Context, req *optunapb.GetStudyDirectionsRequest) (*optunapb.GetStudyDirectionsReply, error) {
	st, err := s.store().GetStudy(ctx, req.GetStudyId())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetStudyDirectionsReply{Directions: toDirections(st.Directions)}, nil
}

func (s *Server) GetStudyUserAttributes(ctx context.Context, req *optunapb.GetStudyUserAttributesRequest) (*optunapb.GetStudyUserAttributesReply, error) {
	st, err := s.store().GetStudy(ctx, req.GetStudyId())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetStudyUserAttributesReply{UserAttributes: st.UserAttrs}, nil
}

func (s *Server) GetStudySystemAttributes(ctx context.Context, req *optunapb.GetStudySystemAttributesRequest) (*optunapb.GetStudySystemAttributesReply, error) {
	st, err := s.store().GetStudy(ctx, req.GetStudyId())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetStudySystemAttributesReply{SystemAttributes: st.SystemAttrs}, nil
}

func (s *Server) GetAllStudies(ctx context.Context, _ *optunapb.GetAllStudiesRequest) (*optunapb.GetAllStudiesReply, error) {
	all, err := s.store().ListStudies(ctx)
	if err != nil {
		return nil, s.err(err)
	}
	out := &optunapb.GetAllStudiesReply{}
	for _, st := range all {
		out.Studies = append(out.Studies, &optunapb.Study{StudyId: st.ID, StudyName: st.Name, Directions: toDirections(st.Directions),
			UserAttributes: st.UserAttrs, SystemAttributes: st.SystemAttrs})
	}
	return out, nil
}

func (s *Server) CreateNewTrial(ctx context.Context, req *optunapb.CreateNewTrialRequest) (*optunapb.CreateNewTrialReply, error) {
	var tmpl *tune.TrialRecord
	if !req.GetTemplateTrialIsNone() {
		t, err := s.fromTrial(req.GetTemplateTrial())
		if err != nil {
			return nil, s.err(err)
		}
		tmpl = t
	}
	t, err := s.Studies.CreateTrial(ctx, req.GetStudyId(), tmpl)
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.CreateNewTrialReply{TrialId: t.ID}, nil
}

func (s *Server) SetTrialParameter(ctx context.Context, req *optunapb.SetTrialParameterRequest) (*optunapb.SetTrialParameterReply, error) {
	dist := req.GetDistribution()
	if _, err := parseDistribution(dist); err != nil {
		return nil, s.err(err)
	}
	err := s.store().SetTrialParam(ctx, req.GetTrialId(), req.GetParamName(), tune.TrialParam{Value: req.GetParamValueInternal(), Distribution: dist},
		func(previous string) error { return compatible(previous, dist) })
	return &optunapb.SetTrialParameterReply{}, s.err(err)
}

func (s *Server) GetTrialIdFromStudyIdTrialNumber(ctx context.Context, req *optunapb.GetTrialIdFromStudyIdTrialNumberRequest) (*optunapb.GetTrialIdFromStudyIdTrialNumberReply, error) {
	id, err := s.store().TrialID(ctx, req.GetStudyId(), req.GetTrialNumber())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetTrialIdFromStudyIdTrialNumberReply{TrialId: id}, nil
}

func (s *Server) SetTrialStateValues(ctx context.Context, req *optunapb.SetTrialStateValuesRequest) (*optunapb.SetTrialStateValuesReply, error) {
	state, err := fromState(req.GetState())
	if err != nil {
		return nil, s.err(err)
	}
	var values []float64
	if len(req.GetValues()) > 0 {
		values = req.GetValues()
	}
	updated, err := s.Studies.SetTrialState(ctx, req.GetTrialId(), state, values)
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.SetTrialStateValuesReply{TrialUpdated: updated}, nil
}

func (s *Server) SetTrialIntermediateValue(ctx context.Context, req *optunapb.SetTrialIntermediateValueRequest) (*optunapb.SetTrialIntermediateValueReply, error) {
	return &optunapb.SetTrialIntermediateValueReply{}, s.err(s.store().SetTrialIntermediate(ctx, req.GetTrialId(), req.GetStep(), req.GetIntermediateValue()))
}

func (s *Server) SetTrialUserAttribute(ctx context.Context, req *optunapb.SetTrialUserAttributeRequest) (*optunapb.SetTrialUserAttributeReply, error) {
	if err := checkJSON(req.GetKey(), req.GetValue()); err != nil {
		return nil, s.err(err)
	}
	return &optunapb.SetTrialUserAttributeReply{}, s.err(s.store().SetTrialAttr(ctx, req.GetTrialId(), tune.UserAttr, req.GetKey(), req.GetValue()))
}

func (s *Server) SetTrialSystemAttribute(ctx context.Context, req *optunapb.SetTrialSystemAttributeRequest) (*optunapb.SetTrialSystemAttributeReply, error) {
	if err := checkJSON(req.GetKey(), req.GetValue()); err != nil {
		return nil, s.err(err)
	}
	return &optunapb.SetTrialSystemAttributeReply{}, s.err(s.store().SetTrialAttr(ctx, req.GetTrialId(), tune.SystemAttr, req.GetKey(), req.GetValue()))
}

func (s *Server) GetTrial(ctx context.Context, req *optunapb.GetTrialRequest) (*optunapb.GetTrialReply, error) {
	t, err := s.store().GetTrial(ctx, req.GetTrialId())
	if err != nil {
		return nil, s.err(err)
	}
	return &optunapb.GetTrialReply{Trial: s.toTrial(t)}, nil
}

// GetTrials answers the refresh of a client's cache: the trials above the
// highest finished id it has and those it holds unfinished.
func (s *Server) GetTrials(ctx context.Context, req *optunapb.GetTrialsRequest) (*optunapb.GetTrialsReply, error) {
	ts, err := s.store().ListTrials(ctx, req.GetStudyId(), tune.TrialQuery{IDAbove: req.GetTrialIdGreaterThan(), IDs: req.GetIncludedTrialIds()})
	if err != nil {
		return nil, s.err(err)
	}
	out := &optunapb.GetTrialsReply{Trials: make([]*optunapb.Trial, len(ts))}
	for i, t := range ts {
		out.Trials[i] = s.toTrial(t)
	}
	return out, nil
}

// checkJSON refuses an attribute value that is not JSON: Optuna's clients
// json.loads every value they read back.
func checkJSON(key, value string) error {
	if !json.Valid([]byte(value)) {
		return lode.Errorf(lode.EInvalid, "The value of attribute '%s' is not JSON.", key)
	}
	return nil
}

// wireTime is how Optuna 5 writes a trial's times: ISO 8601 in UTC with
// microseconds, so workers in other time zones agree on them.
const wireTime = "2006-01-02T15:04:05.000000-07:00"

func (s *Server) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(wireTime)
}

// parseTime reads Optuna 5's times (ISO 8601 with a zone) and, from older
// clients, Optuna 4's (local time without a zone, in the server's zone).
func (s *Server) parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", v, s.loc())
	if err != nil {
		return time.Time{}, lode.Errorf(lode.EInvalid, "Invalid %s %q: want ISO 8601 (YYYY-MM-DDTHH:MM:SS.ffffff+00:00).", field, v)
	}
	return t, nil
}

func (s *Server) toTrial(t *tune.TrialRecord) *optunapb.Trial {
	out := &optunapb.Trial{TrialId: t.ID, Number: t.Number, State: toState(t.State), Values: t.Values,
		DatetimeStart: s.formatTime(t.Start), DatetimeComplete: s.formatTime(t.Complete),
		Params: make(map[string]float64, len(t.Params)), Distributions: make(map[string]string, len(t.Params)),
		UserAttributes: t.UserAttrs, SystemAttributes: t.SystemAttrs, IntermediateValues: t.Intermediate}
	for name, p := range t.Params {
		out.Params[name], out.Distributions[name] = p.Value, p.Distribution
	}
	return out
}

// fromTrial reads a template trial (enqueue_trial, copy_study,
// add_trial).
func (s *Server) fromTrial(p *optunapb.Trial) (*tune.TrialRecord, error) {
	if p == nil {
		return nil, lode.Errorf(lode.EInvalid, "A template trial is missing.")
	}
	state, err := fromState(p.GetState())
	if err != nil {
		return nil, err
	}
	t := &tune.TrialRecord{State: state, Params: map[string]tune.TrialParam{}, Intermediate: p.GetIntermediateValues(),
		UserAttrs: p.GetUserAttributes(), SystemAttrs: p.GetSystemAttributes()}
	if len(p.GetValues()) > 0 {
		t.Values = p.GetValues()
	}
	if t.Start, err = s.parseTime("datetime_start", p.GetDatetimeStart()); err != nil {
		return nil, err
	}
	if t.Complete, err = s.parseTime("datetime_complete", p.GetDatetimeComplete()); err != nil {
		return nil, err
	}
	for name, v := range p.GetParams() {
		dist, ok := p.GetDistributions()[name]
		if !ok {
			return nil, lode.Errorf(lode.EInvalid, "Parameter '%s' has no distribution.", name)
		}
		if _, err := parseDistribution(dist); err != nil {
			return nil, err
		}
		t.Params[name] = tune.TrialParam{Value: v, Distribution: dist}
	}
	for k, v := range t.UserAttrs {
		if err := checkJSON(k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range t.SystemAttrs {
		if err := checkJSON(k, v); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func fromDirection(d optunapb.StudyDirection) (tune.Direction, error) {
	switch d {
	case optunapb.StudyDirection_MINIMIZE:
		return tune.Minimize, nil
	case optunapb.StudyDirection_MAXIMIZE:
		return tune.Maximize, nil
	}
	return "", lode.Errorf(lode.EInvalid, "Unknown study direction %d.", d)
}

func toDirections(ds []tune.Direction) []optunapb.StudyDirection {
	out := make([]optunapb.StudyDirection, len(ds))
	for i, d := range ds {
		if d == tune.Maximize {
			out[i] = optunapb.StudyDirection_MAXIMIZE
		}
	}
	return out
}

var states = map[optunapb.TrialState]tune.TrialState{
	optunapb.TrialState_RUNNING: tune.Running, optunapb.TrialState_COMPLETE: tune.Complete,
	optunapb.TrialState_PRUNED: tune.Pruned, optunapb.TrialState_FAIL: tune.Failed, optunapb.TrialState_WAITING: tune.Waiting,
}

func fromState(s optunapb.TrialState) (tune.TrialState, error) {
	if st, ok := states[s]; ok {
		return st, nil
	}
	return "", lode.Errorf(lode.EInvalid, "Unknown trial state %d.", s)
}

func toState(s tune.TrialState) optunapb.TrialState {
	for p, st := range states {
		if st == s {
			return p
		}
	}
	return optunapb.TrialState_FAIL
}

// distribution is what Optuna compares of two distributions of one
// parameter: its class, whether it is log-scaled, and a categorical one's
// choices.
type distribution struct {
	class   string
	log     bool
	choices []any
}

// legacy are the distribution classes Optuna deprecated, each a fixed
// kind of its successor.
var legacy = map[string]bool{"UniformDistribution": false, "LogUniformDistribution": true, "DiscreteUniformDistribution": false,
	"IntUniformDistribution": false, "IntLogUniformDistribution": true}

// parseDistribution reads Optuna's distribution JSON: {"name": class,
// "attributes": {...}}, or the abbreviated {"type": "float"|"int"|
// "categorical", ...}.
func parseDistribution(s string) (distribution, error) {
	var doc struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Attributes struct {
			Log     bool  `json:"log"`
			Choices []any `json:"choices"`
		} `json:"attributes"`
		Log     bool  `json:"log"`
		Choices []any `json:"choices"`
	}
	bad := lode.Errorf(lode.EInvalid, "Invalid distribution %q: want Optuna's distribution JSON.", s)
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return distribution{}, bad
	}
	switch {
	case doc.Name == "FloatDistribution" || doc.Name == "IntDistribution":
		return distribution{class: doc.Name, log: doc.Attributes.Log}, nil
	case doc.Name == "CategoricalDistribution":
		if len(doc.Attributes.Choices) == 0 {
			return distribution{}, bad
		}
		return distribution{class: doc.Name, choices: doc.Attributes.Choices}, nil
	case doc.Name != "":
		log, ok := legacy[doc.Name]
		if !ok {
			return distribution{}, lode.Errorf(lode.EInvalid, "Unknown distribution class: %s", doc.Name)
		}
		return distribution{class: doc.Name, log: log}, nil
	case doc.Type == "float":
		return distribution{class: "FloatDistribution", log: doc.Log}, nil
	case doc.Type == "int":
		return distribution{class: "IntDistribution", log: doc.Log}, nil
	case doc.Type == "categorical" && len(doc.Choices) > 0:
		return distribution{class: "CategoricalDistribution", choices: doc.Choices}, nil
	}
	return distribution{}, bad
}

// compatible is Optuna's check of a parameter's new distribution against
// the one the study has: the same class and log scale, and for a
// categorical parameter the same choices (its space cannot change).
func compatible(previous, next string) error {
	if previous == "" {
		return nil
	}
	old, err := parseDistribution(previous)
	if err != nil {
		return nil // not ours to judge: stored by an older client
	}
	nd, err := parseDistribution(next)
	if err != nil {
		return err
	}
	switch {
	case old.class != nd.class:
		return lode.Errorf(lode.EInvalid, "Cannot set different distribution kind to the same parameter name.")
	case old.log != nd.log:
		return lode.Errorf(lode.EInvalid, "Cannot set different log configuration to the same parameter name.")
	case old.class == "CategoricalDistribution" && !reflect.DeepEqual(old.choices, nd.choices):
		return lode.Errorf(lode.EInvalid, "CategoricalDistribution does not support dynamic value space.")
	}
	return nil
}
