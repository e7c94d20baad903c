package tracking

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lode-ml/lode"
)

// MLflow's limits (mlflow/utils/validation.py), enforced as MLflow's server
// enforces them.
const (
	MaxMetricsPerBatch    = 1000
	MaxParamsTagsPerBatch = 100
	MaxEntitiesPerBatch   = 1000
	MaxKeyLength          = 250
	MaxParamValueLength   = 6000
	MaxTagValueLength     = 8000
	MaxExperimentName     = 500
	MaxExpTagKeyLength    = 250
	MaxExpTagValueLength  = 20000
	MaxDatasetNameLength  = 500
	MaxDatasetDigest      = 36
	MaxDatasetSource      = 65535
	MaxDatasetSchema      = 1048575
	MaxDatasetProfile     = 16777215
	MaxInputTagKeyLength  = 255
	MaxInputTagValueLen   = 500
	// MaxResultsRuns bounds max_results of search_runs and friends.
	MaxResultsRuns = 50000
	// MaxResultsExperiments bounds max_results of search_experiments.
	MaxResultsExperiments = 50000
	// DefaultMaxResults is used when a search gives no max_results.
	DefaultMaxResults = 1000
)

var (
	runIDPattern        = regexp.MustCompile(`^[a-zA-Z0-9][\w\-]{0,255}$`)
	experimentIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][\w\-]{0,63}$`)
)

// invalidValue formats MLflow's "Invalid value ... for parameter ..." message.
func invalidValue(field string, value any, msg string) *lode.Error {
	b, _ := json.Marshal(value)
	if msg != "" {
		return lode.Errorf(lode.EInvalid, "Invalid value %s for parameter '%s' supplied: %s", b, field, msg)
	}
	return lode.Errorf(lode.EInvalid, "Invalid value %s for parameter '%s' supplied.", b, field)
}

func tooLong(field string, limit int) *lode.Error {
	return lode.Errorf(lode.EInvalid, "'%s' exceeds the maximum length of %d characters", field, limit)
}

func joinPath(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// validName reports whether a metric, param or tag key uses only the
// characters MLflow allows: word characters, / . - space and colon.
func validName(name string) bool {
	for _, r := range name {
		switch {
		case r == '/' || r == '.' || r == '-' || r == ' ' || r == ':' || r == '_':
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) || unicode.In(r, unicode.Mn, unicode.Mc):
		default:
			return false
		}
	}
	return true
}

// pathNotUnique mirrors MLflow: a key must not change when treated as a path.
func pathNotUnique(name string) bool {
	norm := path.Clean(name)
	if name == "" {
		norm = "."
	}
	// posixpath.normpath keeps a leading "//"; path.Clean does not. Keys with
	// a leading slash are rejected either way.
	return norm != name || norm == "." || strings.HasPrefix(norm, "..") || strings.HasPrefix(norm, "/")
}

const badCharsMsg = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."

func validateKey(field, key string, missing bool) error {
	if missing {
		return lode.Invalid(lode.MsgMissing, field)
	}
	if !validName(key) {
		return invalidValue(field, key, badCharsMsg)
	}
	if pathNotUnique(key) {
		return invalidValue(field, key, fmt.Sprintf("Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '%s'", path.Clean(key)))
	}
	return nil
}

// ValidateMetric checks a metric as MLflow's server does; at names the
// request field (e.g. "metrics[3]") for messages.
func ValidateMetric(m Metric, at string) error {
	if err := validateKey(joinPath(at, "name"), m.Key, false); err != nil {
		return err
	}
	if m.Timestamp < 0 {
		return invalidValue(joinPath(at, "timestamp"), m.Timestamp, fmt.Sprintf("metric '%s' (value=%v). Timestamp must be a nonnegative long (64-bit integer) ", m.Key, m.Value))
	}
	if len(m.Key) > MaxKeyLength {
		return tooLong("Metric name", MaxKeyLength)
	}
	return nil
}

// NormalizeMetric stores ±Inf as ±MaxFloat64, as MLflow's SQL store does.
func NormalizeMetric(m *Metric) {
	if math.IsInf(m.Value, 1) {
		m.Value = math.MaxFloat64
	} else if math.IsInf(m.Value, -1) {
		m.Value = -math.MaxFloat64
	}
}

// truncate cuts s to limit bytes without splitting a UTF-8 sequence, as
// MLflow's server truncates over-long param and tag values (its default
// MLFLOW_TRUNCATE_LONG_VALUES=true) instead of rejecting them.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit]
}

// ValidateParam checks a param key; an over-long value is truncated.
func ValidateParam(p *Param, at string) error {
	if err := validateKey(joinPath(at, "key"), p.Key, false); err != nil {
		return err
	}
	if len(p.Key) > MaxKeyLength {
		return tooLong("Param key", MaxKeyLength)
	}
	p.Value = truncate(p.Value, MaxParamValueLength)
	return nil
}

// ValidateTag checks a run tag key; an over-long value is truncated.
func ValidateTag(t *Tag, at string) error {
	if err := validateKey(joinPath(at, "key"), t.Key, false); err != nil {
		return err
	}
	if len(t.Key) > MaxKeyLength {
		return tooLong(joinPath(at, "key"), MaxKeyLength)
	}
	t.Value = truncate(t.Value, MaxTagValueLength)
	return nil
}

// ValidateExperimentTag checks an experiment tag key and value.
func ValidateExperimentTag(t Tag) error {
	if err := validateKey("key", t.Key, false); err != nil {
		return err
	}
	if len(t.Key) > MaxExpTagKeyLength {
		return tooLong("key", MaxExpTagKeyLength)
	}
	if len(t.Value) > MaxExpTagValueLength {
		return tooLong("value", MaxExpTagValueLength)
	}
	return nil
}

// ValidateBatchLimits checks the entity counts of a log-batch request.
func ValidateBatchLimits(metrics, params, tags int) error {
	check := func(name string, limit, n int) error {
		if n > limit {
			return lode.Errorf(lode.EInvalid, "A batch logging request can contain at most %d %s. Got %d %s. Please split up %s across multiple requests and try again.", limit, name, n, name, name)
		}
		return nil
	}
	if err := check("metrics", MaxMetricsPerBatch, metrics); err != nil {
		return err
	}
	if err := check("params", MaxParamsTagsPerBatch, params); err != nil {
		return err
	}
	if err := check("tags", MaxParamsTagsPerBatch, tags); err != nil {
		return err
	}
	return check("metrics, params, and tags", MaxEntitiesPerBatch, metrics+params+tags)
}

// ValidateExperimentName checks a new or renamed experiment's name.
func ValidateExperimentName(name string) error {
	if name == "" {
		return lode.Errorf(lode.EInvalid, "Invalid experiment name: '%s'", name)
	}
	if len(name) > MaxExperimentName {
		return tooLong("name", MaxExperimentName)
	}
	return nil
}

// ValidateRunID checks the form of a run id.
func ValidateRunID(id, field string) error {
	if !runIDPattern.MatchString(id) {
		return invalidValue(field, id, "")
	}
	return nil
}

// ValidateExperimentID checks the form of an experiment id.
func ValidateExperimentID(id string) error {
	if !experimentIDPattern.MatchString(id) {
		return lode.Errorf(lode.EInvalid, "Invalid experiment ID: '%s'", id)
	}
	return nil
}

// ValidateDataset checks a dataset input's sizes.
func ValidateDataset(in DatasetInput) error {
	d := in.Dataset
	switch {
	case d.Name == "":
		return lode.Invalid(lode.MsgMissing, "dataset.name")
	case d.Digest == "":
		return lode.Invalid(lode.MsgMissing, "dataset.digest")
	case len(d.Name) > MaxDatasetNameLength:
		return tooLong("name", MaxDatasetNameLength)
	case len(d.Digest) > MaxDatasetDigest:
		return tooLong("digest", MaxDatasetDigest)
	case len(d.Source) > MaxDatasetSource:
		return tooLong("source", MaxDatasetSource)
	case len(d.Schema) > MaxDatasetSchema:
		return tooLong("schema", MaxDatasetSchema)
	case len(d.Profile) > MaxDatasetProfile:
		return tooLong("profile", MaxDatasetProfile)
	}
	for _, t := range in.Tags {
		if t.Key == "" {
			return lode.Invalid(lode.MsgMissing, "key")
		}
		if len(t.Key) > MaxInputTagKeyLength {
			return tooLong("key", MaxInputTagKeyLength)
		}
		if len(t.Value) > MaxInputTagValueLen {
			return tooLong("value", MaxInputTagValueLen)
		}
	}
	return nil
}

// ValidateMaxResults applies a search's default and upper bound.
func ValidateMaxResults(n, limit int) (int, error) {
	if n == 0 {
		return DefaultMaxResults, nil
	}
	if n < 0 || n > limit {
		return 0, lode.Errorf(lode.EInvalid, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", n, limit)
	}
	return n, nil
}
