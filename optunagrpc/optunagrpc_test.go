package optunagrpc_test

import (
	"context"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/optunagrpc"
	pb "github.com/lode-ml/lode/optunagrpc/optunapb"
	"github.com/lode-ml/lode/sqlite"
	"github.com/lode-ml/lode/tune"
)

// serve runs the service on a real SQLite store behind a real HTTP/2
// cleartext server on loopback, as lode server does, and returns a client
// connected to it.
func serve(t *testing.T, authorize func(*http.Request) error) (pb.StorageServiceClient, string) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lode.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &optunagrpc.Server{Studies: &tune.Service{Store: db}, Location: time.UTC}
	mux := http.NewServeMux()
	h := s.Handler()
	mux.HandleFunc(optunagrpc.ServicePath, func(w http.ResponseWriter, r *http.Request) {
		if authorize != nil && optunagrpc.IsCall(r) {
			if err := authorize(r); err != nil {
				s.Refuse(w, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewStorageServiceClient(conn), ln.Addr().String()
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("error %v: code %v, want %v", err, got, want)
	}
}

func TestStorageService(t *testing.T) {
	c, _ := serve(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	st, err := c.CreateNewStudy(ctx, &pb.CreateNewStudyRequest{StudyName: "s", Directions: []pb.StudyDirection{pb.StudyDirection_MAXIMIZE}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateNewStudy(ctx, &pb.CreateNewStudyRequest{StudyName: "s", Directions: []pb.StudyDirection{pb.StudyDirection_MINIMIZE}})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.GetStudyIdFromName(ctx, &pb.GetStudyIdFromNameRequest{StudyName: "nope"})
	wantCode(t, err, codes.NotFound)
	_, err = c.GetStudyDirections(ctx, &pb.GetStudyDirectionsRequest{StudyId: 999})
	wantCode(t, err, codes.NotFound)
	id, err := c.GetStudyIdFromName(ctx, &pb.GetStudyIdFromNameRequest{StudyName: "s"})
	if err != nil || id.StudyId != st.StudyId {
		t.Fatalf("GetStudyIdFromName = %v, %v", id, err)
	}
	dirs, err := c.GetStudyDirections(ctx, &pb.GetStudyDirectionsRequest{StudyId: st.StudyId})
	if err != nil || len(dirs.Directions) != 1 || dirs.Directions[0] != pb.StudyDirection_MAXIMIZE {
		t.Fatalf("GetStudyDirections = %v, %v", dirs, err)
	}
	if _, err := c.SetStudyUserAttribute(ctx, &pb.SetStudyUserAttributeRequest{StudyId: st.StudyId, Key: "k", Value: `{"a": [1, 2]}`}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SetStudyUserAttribute(ctx, &pb.SetStudyUserAttributeRequest{StudyId: st.StudyId, Key: "k", Value: `not json`})
	wantCode(t, err, codes.InvalidArgument)
	all, err := c.GetAllStudies(ctx, &pb.GetAllStudiesRequest{})
	if err != nil || len(all.Studies) != 1 || all.Studies[0].UserAttributes["k"] != `{"a": [1, 2]}` {
		t.Fatalf("GetAllStudies = %v, %v", all, err)
	}

	tr, err := c.CreateNewTrial(ctx, &pb.CreateNewTrialRequest{StudyId: st.StudyId, TemplateTrialIsNone: true})
	if err != nil {
		t.Fatal(err)
	}
	lr := `{"name": "FloatDistribution", "attributes": {"step": null, "low": 1e-05, "high": 0.1, "log": true}}`
	if _, err := c.SetTrialParameter(ctx, &pb.SetTrialParameterRequest{TrialId: tr.TrialId, ParamName: "lr", ParamValueInternal: 0.01, Distribution: lr}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"name": "FloatDistribution", "attributes": {"step": null, "low": 1e-05, "high": 0.1, "log": false}}`,
		`{"name": "IntDistribution", "attributes": {"step": 1, "low": 1, "high": 5, "log": true}}`,
		`not json`,
	} {
		tr2, err := c.CreateNewTrial(ctx, &pb.CreateNewTrialRequest{StudyId: st.StudyId, TemplateTrialIsNone: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SetTrialParameter(ctx, &pb.SetTrialParameterRequest{TrialId: tr2.TrialId, ParamName: "lr", ParamValueInternal: 0.5, Distribution: bad})
		wantCode(t, err, codes.InvalidArgument)
	}
	if _, err := c.SetTrialIntermediateValue(ctx, &pb.SetTrialIntermediateValueRequest{TrialId: tr.TrialId, Step: 2, IntermediateValue: math.Inf(1)}); err != nil {
		t.Fatal(err)
	}
	up, err := c.SetTrialStateValues(ctx, &pb.SetTrialStateValuesRequest{TrialId: tr.TrialId, State: pb.TrialState_RUNNING})
	if err != nil || up.TrialUpdated {
		t.Fatalf("RUNNING again: %v, %v", up, err)
	}
	up, err = c.SetTrialStateValues(ctx, &pb.SetTrialStateValuesRequest{TrialId: tr.TrialId, State: pb.TrialState_COMPLETE, Values: []float64{0.9}})
	if err != nil || !up.TrialUpdated {
		t.Fatalf("COMPLETE: %v, %v", up, err)
	}
	_, err = c.SetTrialIntermediateValue(ctx, &pb.SetTrialIntermediateValueRequest{TrialId: tr.TrialId, Step: 3, IntermediateValue: 1})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.SetTrialUserAttribute(ctx, &pb.SetTrialUserAttributeRequest{TrialId: tr.TrialId, Key: "a", Value: "1"})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.SetTrialStateValues(ctx, &pb.SetTrialStateValuesRequest{TrialId: tr.TrialId, State: pb.TrialState_FAIL})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.GetTrial(ctx, &pb.GetTrialRequest{TrialId: 12345})
	wantCode(t, err, codes.NotFound)

	got, err := c.GetTrial(ctx, &pb.GetTrialRequest{TrialId: tr.TrialId})
	if err != nil {
		t.Fatal(err)
	}
	g := got.Trial
	if g.Number != 0 || g.State != pb.TrialState_COMPLETE || len(g.Values) != 1 || g.Values[0] != 0.9 || g.Params["lr"] != 0.01 ||
		g.Distributions["lr"] != lr || !math.IsInf(g.IntermediateValues[2], 1) || g.DatetimeStart == "" || g.DatetimeComplete == "" {
		t.Fatalf("GetTrial = %v", g)
	}
	if _, err := time.Parse(time.RFC3339Nano, g.DatetimeStart); err != nil || !strings.HasSuffix(g.DatetimeStart, "+00:00") {
		t.Fatalf("datetime_start %q: %v", g.DatetimeStart, err)
	}

	// A template trial (copy_study, enqueue_trial) keeps its times, given
	// as Optuna 5 writes them or, without a zone, as Optuna 4 did.
	tmpl := &pb.Trial{State: pb.TrialState_COMPLETE, Values: []float64{0.5}, DatetimeStart: "2024-01-02T03:04:05.123456+00:00",
		DatetimeComplete: "2024-01-02 03:04:06.000001", Params: map[string]float64{"lr": 0.001}, Distributions: map[string]string{"lr": lr},
		UserAttributes: map[string]string{"u": `"x"`}, IntermediateValues: map[int64]float64{0: 1, 1: math.NaN()}}
	ct, err := c.CreateNewTrial(ctx, &pb.CreateNewTrialRequest{StudyId: st.StudyId, TemplateTrial: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.GetTrial(ctx, &pb.GetTrialRequest{TrialId: ct.TrialId})
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Trial; g.Number != 4 || g.DatetimeStart != tmpl.DatetimeStart || g.DatetimeComplete != "2024-01-02T03:04:06.000001+00:00" ||
		g.UserAttributes["u"] != `"x"` || !math.IsNaN(g.IntermediateValues[1]) || g.Params["lr"] != 0.001 {
		t.Fatalf("trial from template = %v", g)
	}
	bad := &pb.Trial{State: pb.TrialState_COMPLETE, Params: map[string]float64{"x": 1}}
	_, err = c.CreateNewTrial(ctx, &pb.CreateNewTrialRequest{StudyId: st.StudyId, TemplateTrial: bad})
	wantCode(t, err, codes.InvalidArgument)

	// The client's cache refresh: trials above an id, and some by id.
	ts, err := c.GetTrials(ctx, &pb.GetTrialsRequest{StudyId: st.StudyId, TrialIdGreaterThan: -1})
	if err != nil || len(ts.Trials) != 5 {
		t.Fatalf("GetTrials all = %d trials, %v", len(ts.GetTrials()), err)
	}
	ts, err = c.GetTrials(ctx, &pb.GetTrialsRequest{StudyId: st.StudyId, TrialIdGreaterThan: ct.TrialId - 1, IncludedTrialIds: []int64{tr.TrialId}})
	if err != nil || len(ts.Trials) != 2 || ts.Trials[0].TrialId != tr.TrialId || ts.Trials[1].TrialId != ct.TrialId {
		t.Fatalf("GetTrials some = %v, %v", ts, err)
	}
	n, err := c.GetTrialIdFromStudyIdTrialNumber(ctx, &pb.GetTrialIdFromStudyIdTrialNumberRequest{StudyId: st.StudyId, TrialNumber: 4})
	if err != nil || n.TrialId != ct.TrialId {
		t.Fatalf("GetTrialIdFromStudyIdTrialNumber = %v, %v", n, err)
	}

	if _, err := c.DeleteStudy(ctx, &pb.DeleteStudyRequest{StudyId: st.StudyId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteStudy(ctx, &pb.DeleteStudyRequest{StudyId: st.StudyId})
	wantCode(t, err, codes.NotFound)
	_, err = c.GetTrials(ctx, &pb.GetTrialsRequest{StudyId: st.StudyId})
	wantCode(t, err, codes.NotFound)
}

func TestAuthorize(t *testing.T) {
	c, addr := serve(t, func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer good" {
			return lode.Errorf(lode.EUnauthenticated, "Authentication required; try a token.")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.GetAllStudies(ctx, &pb.GetAllStudiesRequest{})
	wantCode(t, err, codes.Unauthenticated)
	if !strings.Contains(status.Convert(err).Message(), "Authentication required") {
		t.Fatalf("message %q", status.Convert(err).Message())
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer good")
	if _, err := c.GetAllStudies(ctx, &pb.GetAllStudiesRequest{}); err != nil {
		t.Fatal(err)
	}
	// A plain HTTP request is told what the path is for.
	resp, err := http.Post("http://"+addr+optunagrpc.ServicePath+"GetAllStudies", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("plain HTTP: %s", resp.Status)
	}
}
