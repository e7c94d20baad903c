package tune

import (
	"context"
	"math"
	"time"

	"github.com/lode-ml/lode"
)

// Study is a search for the best trial: a unique name, one direction per
// objective, and attributes whose values are JSON text (user attributes
// are the user's; system attributes are the samplers' and pruners').
type Study struct {
	ID          int64
	Name        string
	Directions  []Direction
	UserAttrs   map[string]string
	SystemAttrs map[string]string
}

// TrialParam is one parameter of a stored trial: its value in the internal
// representation of its distribution (for a categorical one, the index of
// the choice), and the distribution as the client spelt it (Optuna's
// distribution JSON), kept verbatim.
type TrialParam struct {
	Value        float64
	Distribution string
}

// TrialRecord is one evaluation of a study's objective, as stored. Number counts the
// study's trials from 0 without gaps; ID is unique across studies and
// grows with every trial created. Start and Complete are zero when unset.
// Values (one per objective) and intermediate values may be NaN or
// infinite.
type TrialRecord struct {
	ID           int64
	StudyID      int64
	Number       int64
	State        TrialState
	Values       []float64
	Start        time.Time
	Complete     time.Time
	Params       map[string]TrialParam
	Intermediate map[int64]float64
	UserAttrs    map[string]string
	SystemAttrs  map[string]string
}

// AttrKind names one of the two sets of attributes of a study or trial.
type AttrKind string

// Attribute kinds.
const (
	UserAttr   AttrKind = "user"
	SystemAttr AttrKind = "system"
)

// TrialQuery selects a study's trials for ListTrials: every trial when
// All, else those whose id is above IDAbove or among IDs (how an Optuna
// client refreshes its cache: the trials it has not seen finish).
type TrialQuery struct {
	All     bool
	IDAbove int64
	IDs     []int64
}

// Store keeps studies and trials. Errors are *lode.Error values: an
// unknown study or trial is ENotFound, a study name taken is EExists, a
// change to a finished trial is EInvalidState.
type Store interface {
	// CreateStudy stores a new study (its ID is ignored) and returns its id.
	CreateStudy(ctx context.Context, s *Study) (int64, error)
	// DeleteStudy removes a study and all its trials.
	DeleteStudy(ctx context.Context, id int64) error
	GetStudy(ctx context.Context, id int64) (*Study, error)
	GetStudyByName(ctx context.Context, name string) (*Study, error)
	// ListStudies returns every study, oldest first.
	ListStudies(ctx context.Context) ([]*Study, error)
	SetStudyAttr(ctx context.Context, id int64, kind AttrKind, key, value string) error

	// CreateTrial stores t (its ID and Number are ignored) as the study's
	// next trial, numbered after every trial created before it even by
	// concurrent callers, and returns it with its id and number.
	CreateTrial(ctx context.Context, studyID int64, t *TrialRecord) (*TrialRecord, error)
	GetTrial(ctx context.Context, id int64) (*TrialRecord, error)
	// TrialID returns the id of the study's trial with that number.
	TrialID(ctx context.Context, studyID, number int64) (int64, error)
	// ListTrials returns the study's trials the query selects, by number.
	ListTrials(ctx context.Context, studyID int64, q TrialQuery) ([]*TrialRecord, error)
	// SetTrialParam sets a parameter of an unfinished trial. check, when
	// not nil, is given the distribution the parameter has in the study's
	// other trials ("" if none yet) and its error refuses the change.
	SetTrialParam(ctx context.Context, trialID int64, name string, p TrialParam, check func(previous string) error) error
	// SetTrialState moves an unfinished trial to state at the time at,
	// setting values when not nil. A move to Running succeeds only from
	// Waiting (it claims an enqueued trial): from any other state it
	// changes nothing and reports false. Running sets Start; a final
	// state sets Complete.
	SetTrialState(ctx context.Context, trialID int64, state TrialState, values []float64, at time.Time) (bool, error)
	// SetTrialIntermediate sets the value an unfinished trial reported at
	// a step, replacing any earlier one.
	SetTrialIntermediate(ctx context.Context, trialID, step int64, value float64) error
	SetTrialAttr(ctx context.Context, trialID int64, kind AttrKind, key, value string) error
}

// Service checks what callers ask of a Store and stamps times on trials.
type Service struct {
	Store Store
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CreateStudy validates st and stores it. Errors: EInvalid for an empty
// name, no direction or an unknown one; EExists for a name taken.
func (s *Service) CreateStudy(ctx context.Context, st *Study) (int64, error) {
	if st.Name == "" {
		return 0, lode.Errorf(lode.EInvalid, "A study needs a name.")
	}
	if len(st.Directions) == 0 {
		return 0, lode.Errorf(lode.EInvalid, "A study needs at least one direction.")
	}
	for _, d := range st.Directions {
		if d != Minimize && d != Maximize {
			return 0, lode.Errorf(lode.EInvalid, "Invalid study direction %q.", d)
		}
	}
	return s.Store.CreateStudy(ctx, st)
}

// CreateTrial creates the study's next trial: a new Running trial started
// now when template is nil, else a copy of template (as Optuna's
// enqueue_trial and copy_study make them).
func (s *Service) CreateTrial(ctx context.Context, studyID int64, template *TrialRecord) (*TrialRecord, error) {
	t := template
	if t == nil {
		t = &TrialRecord{State: Running, Start: s.now()}
	}
	if !t.State.Valid() {
		return nil, lode.Errorf(lode.EInvalid, "Invalid trial state %q.", t.State)
	}
	return s.Store.CreateTrial(ctx, studyID, t)
}

// SetTrialState moves a trial (see Store.SetTrialState) now. Errors:
// EInvalid for an unknown state or a value that is NaN in a complete
// trial.
func (s *Service) SetTrialState(ctx context.Context, trialID int64, state TrialState, values []float64) (bool, error) {
	if !state.Valid() {
		return false, lode.Errorf(lode.EInvalid, "Invalid trial state %q.", state)
	}
	if state == Complete {
		for _, v := range values {
			if math.IsNaN(v) {
				return false, lode.Errorf(lode.EInvalid, "A complete trial's value cannot be NaN.")
			}
		}
	}
	return s.Store.SetTrialState(ctx, trialID, state, values, s.now())
}
