package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lode-ml/lode/auth"
	"github.com/lode-ml/lode/tune"
)

// The search space of the seeded studies: a log-spread float, an int and
// a categorical parameter, as a study file would write them.
var studySpace = map[string]tune.Distribution{
	"lr":        {Kind: tune.Float, Low: 1e-5, High: 1, Log: true},
	"layers":    {Kind: tune.Int, Low: 1, High: 4, Step: 1},
	"optimizer": {Kind: tune.Categorical, Choices: []any{"sgd", "adam", "rmsprop"}},
}

// seedStudy makes a study of n trials through tune.Service, as Optuna's
// storage service and lode tune do: each trial's parameters, a learning
// curve of 10 intermediate values, then its state. Every fourth trial is
// pruned at step 3 after rung 1 (Optuna's successive halving records the
// rungs a trial reached); with running, the last trial is still running.
// The objective is best near lr = 10^-2.5 with sgd.
func seedStudy(t *testing.T, s *site, name string, n int, running bool, attrs map[string]string) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	clock := time.Now().Add(-time.Hour)
	svc := &tune.Service{Store: s.DB, Now: func() time.Time { return clock }}
	id, err := svc.CreateStudy(ctx, &tune.Study{Name: name, Directions: []tune.Direction{tune.Minimize},
		SystemAttrs: attrs, UserAttrs: map[string]string{"dataset": `"wine"`}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), 7))
	var trials []int64
	for i := 0; i < n; i++ {
		clock = clock.Add(30 * time.Second)
		tr, err := svc.CreateTrial(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		trials = append(trials, tr.ID)
		lr := math.Pow(10, -5+5*r.Float64())
		values := map[string]any{"lr": lr, "layers": int64(1 + r.IntN(4)), "optimizer": []string{"sgd", "adam", "rmsprop"}[r.IntN(3)]}
		for _, pname := range []string{"lr", "layers", "optimizer"} {
			d := studySpace[pname]
			x, err := d.ToInternal(values[pname])
			if err != nil {
				t.Fatal(err)
			}
			js, err := d.OptunaJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DB.SetTrialParam(ctx, tr.ID, pname, tune.TrialParam{Value: x, Distribution: string(js)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		opt, _ := studySpace["optimizer"].ToInternal(values["optimizer"])
		final := math.Pow(math.Log10(lr)+2.5, 2)/4 + 0.3*opt + 0.02*float64(values["layers"].(int64)) + 0.02*r.Float64()
		last := 9
		pruned := i%4 == 3
		if pruned {
			last = 3
		}
		if running && i == n-1 {
			last = 4
		}
		for step := 0; step <= last; step++ {
			if err := s.DB.SetTrialIntermediate(ctx, tr.ID, int64(step), final+math.Exp(-float64(step)/3)); err != nil {
				t.Fatal(err)
			}
		}
		clock = clock.Add(time.Duration(10+last*5) * time.Second)
		switch {
		case running && i == n-1:
		case pruned:
			for rung := 0; rung <= 1; rung++ {
				if err := s.DB.SetTrialAttr(ctx, tr.ID, tune.SystemAttr, fmt.Sprintf("completed_rung_%d", rung), fmt.Sprint(final)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := svc.SetTrialState(ctx, tr.ID, tune.Pruned, nil); err != nil {
				t.Fatal(err)
			}
		default:
			if _, err := svc.SetTrialState(ctx, tr.ID, tune.Complete, []float64{final + math.Exp(-3)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return id, trials
}

func TestStudyPages(t *testing.T) {
	s := newSite(t)
	id, _ := seedStudy(t, s, "wine-tpe", 24, false, nil)
	otherID, err := (&tune.Service{Store: s.DB}).CreateStudy(context.Background(), &tune.Study{Name: "empty <study>", Directions: []tune.Direction{tune.Maximize, tune.Minimize}})
	if err != nil {
		t.Fatal(err)
	}

	code, body := s.get(t, "/studies")
	if code != 200 {
		t.Fatalf("/studies: %d\n%s", code, body)
	}
	for _, want := range []string{`href="/studies/` + fmt.Sprint(id) + `"`, "wine-tpe", "18 COMPLETE", "6 PRUNED", "minimize", "empty &lt;study&gt;", "maximize, minimize"} {
		if !strings.Contains(body, want) {
			t.Errorf("/studies lacks %q", want)
		}
	}

	code, body = s.get(t, fmt.Sprintf("/studies/%d", id))
	if code != 200 {
		t.Fatalf("study page: %d\n%s", code, body)
	}
	for _, want := range []string{"wine-tpe", `<th>lr</th>`, `<th>optimizer</th>`, "value (minimize)", "step 3 · rung 1",
		`data-state="PRUNED"`, "rmsprop", `id="importance-method"`, "epsilon squared", "dataset"} {
		if !strings.Contains(body, want) {
			t.Errorf("the study page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="live-note">`) {
		t.Errorf("a finished study's page says it updates live")
	}

	// The page's data: params with their spaces, every trial, importance.
	res, err := http.Get(fmt.Sprintf("%s/studies/%d/data", s.URL, id))
	if err != nil {
		t.Fatal(err)
	}
	var data studyScript
	if err := json.NewDecoder(res.Body).Decode(&data); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(data.Trials) != 24 || len(data.Params) != 3 || data.Live {
		t.Fatalf("data: %d trials, params %+v, live %v", len(data.Trials), data.Params, data.Live)
	}
	byName := map[string]scriptParam{}
	for _, p := range data.Params {
		byName[p.Name] = p
	}
	if !byName["lr"].Log || byName["layers"].Log || strings.Join(byName["optimizer"].Choices, ",") != "sgd,adam,rmsprop" {
		t.Errorf("params %+v", data.Params)
	}
	if len(data.Importance) != 3 || data.Importance[0].Param != "lr" {
		t.Errorf("importance %+v: lr drives this objective", data.Importance)
	}
	if tr := data.Trials[3]; tr.State != "PRUNED" || len(tr.Steps) != 4 || len(tr.Values) != 0 {
		t.Errorf("trial 3: %+v", tr)
	}
	// Asked with the version it has, the page gets a few bytes.
	if code, body := s.get(t, fmt.Sprintf("/studies/%d/data?version=%s", id, data.Version)); code != 200 || !strings.Contains(body, `"unchanged":true`) || len(body) > 100 {
		t.Errorf("unchanged study: %d %s", code, body)
	}

	// A study without trials, missing and malformed ids.
	if code, body := s.get(t, fmt.Sprintf("/studies/%d", otherID)); code != 200 || !strings.Contains(body, "No trials yet") {
		t.Errorf("empty study: %d", code)
	}
	for _, p := range []string{"/studies/999999", "/studies/abc", "/studies/-1", "/studies/999999/data"} {
		if code, _ := s.get(t, p); code != 404 {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

// A study with a running trial says so, and its data says live.
func TestStudyPageLive(t *testing.T) {
	s := newSite(t)
	id, _ := seedStudy(t, s, "live", 5, true, nil)
	code, body := s.get(t, fmt.Sprintf("/studies/%d", id))
	if code != 200 || !strings.Contains(body, `data-state="RUNNING"`) || strings.Contains(body, `id="live-note" hidden`) {
		t.Fatalf("live study page: %d", code)
	}
}

// With authentication on, a study tied to an experiment is shown to
// whoever may read the experiment; any other study to admins only.
func TestStudyPermissions(t *testing.T) {
	s := newAuthSite(t, siteOptions{Default: auth.NoPermissions})
	ctx := asAdmin(t, s)
	expID, err := s.Tracking.CreateExperiment(ctx, "tuning", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tied, _ := seedStudy(t, s, "tied-study", 4, false, map[string]string{tune.ExperimentAttr: fmt.Sprintf("%q", expID)})
	loose, _ := seedStudy(t, s, "loose-study", 4, false, nil)
	admin := s.signIn(t, "admin", adminPassword)
	alice := s.signIn(t, "alice", alicePassword)
	status := func(c *http.Cookie, path string) (int, string) {
		t.Helper()
		res, body := s.call(t, "GET", path, c.Value, "", nil)
		return res.StatusCode, body
	}
	for _, p := range []string{fmt.Sprintf("/studies/%d", tied), fmt.Sprintf("/studies/%d", loose), fmt.Sprintf("/studies/%d/data", loose)} {
		if code, _ := status(admin, p); code != 200 {
			t.Errorf("admin %s: %d", p, code)
		}
		if code, _ := status(alice, p); code != 403 {
			t.Errorf("alice, who may read nothing, %s: %d", p, code)
		}
	}
	if _, body := status(alice, "/studies"); strings.Contains(body, "tied-study") || strings.Contains(body, "loose-study") || !strings.Contains(body, "2 studies belong to no experiment you may read") {
		t.Errorf("alice's study list shows what she may not read:\n%s", body)
	}
	if err := s.Auth.Grant(ctx, "alice", auth.Experiment, expID, auth.Read, true); err != nil {
		t.Fatal(err)
	}
	if code, _ := status(alice, fmt.Sprintf("/studies/%d", tied)); code != 200 {
		t.Errorf("alice, a reader of the experiment, gets %d for its study", code)
	}
	if code, _ := status(alice, fmt.Sprintf("/studies/%d", loose)); code != 403 {
		t.Errorf("alice gets %d for a study of no experiment", code)
	}
	if _, body := status(alice, "/studies"); !strings.Contains(body, "tied-study") || strings.Contains(body, "loose-study") {
		t.Errorf("alice's study list:\n%s", body)
	}
	// Anonymous visitors are sent to sign in.
	res, _ := s.call(t, "GET", fmt.Sprintf("/studies/%d", tied), "", "", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("anonymous: %d", res.StatusCode)
	}
}

// The study page draws its charts: the history with its best-so-far line,
// a line of intermediate values per trial, parallel coordinates with the
// categorical parameter's choices as ticks, a slice per parameter (the
// log-spread one on a log axis) and the importance bars; and it updates
// itself when the running trial ends.
func TestStudyPageBrowser(t *testing.T) {
	s := newSite(t)
	id, trials := seedStudy(t, s, "wine-asha", 30, true, nil)
	b := newBrowser(t, s)
	b.visit(t, fmt.Sprintf("/studies/%d", id))
	b.waitFor(t, "the charts", `window.LodeStudy && LodeStudy.ready`)
	var got struct {
		History, Best       float64
		Intermediate, Lines int
		Ticks               []string
		Slices              []string
		LogX, CatX          int
		Importance          []string
		Live                bool
	}
	b.eval(t, `(() => {
		const s = LodeStudy;
		return {
			History: s.history ? s.history.data[0].length : 0, Best: s.historyBest,
			Intermediate: s.intermediateLines, Lines: s.parallelLines.length,
			Ticks: s.parallelTicks.optimizer || [], Slices: Object.keys(s.slices).sort(),
			LogX: s.slices.lr.scales.x.distr, CatX: s.slices.optimizer.scales.x.distr,
			Importance: [...document.querySelectorAll("#importance .imp-row")].map((r) => r.dataset.param),
			Live: !document.getElementById("live-note").hidden,
		};
	})()`, &got)
	// 30 trials: 7 pruned (every fourth), 1 running, 22 complete.
	if got.History != 22 || got.Lines != 22 || got.Intermediate != 30 {
		t.Errorf("history %v points, parallel %d lines, %d intermediate lines", got.History, got.Lines, got.Intermediate)
	}
	if strings.Join(got.Ticks, ",") != "sgd,adam,rmsprop" || strings.Join(got.Slices, ",") != "layers,lr,optimizer" || got.LogX != 3 || got.CatX != 1 {
		t.Errorf("ticks %v, slices %v, lr's x distr %d, optimizer's %d", got.Ticks, got.Slices, got.LogX, got.CatX)
	}
	// lr and the optimizer drive the objective, layers barely.
	if len(got.Importance) != 3 || got.Importance[2] != "layers" || !got.Live {
		t.Errorf("importance %v, live %v", got.Importance, got.Live)
	}
	var best float64
	b.eval(t, `Math.min(...JSON.parse(document.getElementById("study-data").textContent).trials.filter((t) => t.state === "COMPLETE").map((t) => t.values[0]))`, &best)
	if got.Best != best {
		t.Errorf("best so far ends at %v, want %v", got.Best, best)
	}
	for _, sel := range []string{"#history canvas", "#intermediate canvas", "#parallel canvas", ".slice canvas"} {
		if !b.canvasDrawn(t, sel) {
			t.Errorf("%s is blank", sel)
		}
	}
	b.noErrors(t)
	b.screenshot(t, "study")

	// The running trial ends: the page sees it at its next poll.
	if _, err := (&tune.Service{Store: s.DB}).SetTrialState(context.Background(), trials[len(trials)-1], tune.Complete, []float64{0.01}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the live update", `LodeStudy.redraws >= 2 && document.getElementById("live-note").hidden`)
	b.eval(t, `LodeStudy.history.data[0].length`, &got.History)
	if got.History != 23 || !strings.Contains(b.text(t, `#trials tr[data-number="29"]`), "COMPLETE") {
		t.Errorf("after the update: %v points, row %q", got.History, b.text(t, `#trials tr[data-number="29"]`))
	}
	b.noErrors(t)

	// A study without trials, and a two-objective one (no best line, no
	// importance), draw without an error.
	ctx := context.Background()
	svc := &tune.Service{Store: s.DB}
	emptyID, err := svc.CreateStudy(ctx, &tune.Study{Name: "empty", Directions: []tune.Direction{tune.Minimize}})
	if err != nil {
		t.Fatal(err)
	}
	multiID, err := svc.CreateStudy(ctx, &tune.Study{Name: "pareto", Directions: []tune.Direction{tune.Minimize, tune.Maximize}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		tr, err := svc.CreateTrial(ctx, multiID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetTrialState(ctx, tr.ID, tune.Complete, []float64{float64(i), float64(5 - i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sid := range []int64{emptyID, multiID} {
		b.visit(t, fmt.Sprintf("/studies/%d", sid))
		b.waitFor(t, "the charts", `window.LodeStudy && LodeStudy.ready`)
		var series int
		b.eval(t, `LodeStudy.history ? LodeStudy.history.series.length : 0`, &series)
		if want := map[int64]int{emptyID: 0, multiID: 2}[sid]; series != want {
			t.Errorf("study %d: history has %d series, want %d", sid, series, want)
		}
		b.noErrors(t)
	}
}
