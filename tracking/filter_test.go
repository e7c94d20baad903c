package tracking

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lode-ml/lode"
)

// cmp is a short Comparison constructor for the tables.
func cmp(keyType, key, op string, value any) Comparison {
	return Comparison{KeyType: keyType, Key: key, Op: op, Value: value}
}

func metric(key, op string, v float64) Comparison { return cmp(KeyMetric, key, op, v) }
func param(key, op string, v any) Comparison      { return cmp(KeyParam, key, op, v) }
func tag(key, op string, v any) Comparison        { return cmp(KeyTag, key, op, v) }
func attr(key, op string, v any) Comparison       { return cmp(KeyAttribute, key, op, v) }
func dataset(key, op string, v any) Comparison    { return cmp(KeyDataset, key, op, v) }

type filterCase struct {
	in   string
	want []Comparison
}

type errCase struct {
	in   string
	want string // a substring of the error message
}

func runFilterCases(t *testing.T, parse func(string) ([]Comparison, error), cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := parse(tc.in)
		if err != nil {
			t.Errorf("%q: unexpected error: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got  %#v\n want %#v", tc.in, got, tc.want)
		}
	}
}

func checkInvalid(t *testing.T, in string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%q: no error, want one containing %q", in, want)
		return
	}
	var le *lode.Error
	if !errors.As(err, &le) || le.Code != lode.EInvalid {
		t.Errorf("%q: error %v is not a *lode.Error with code %s", in, err, lode.EInvalid)
		return
	}
	if !strings.Contains(le.Message, want) {
		t.Errorf("%q: error %q does not contain %q", in, le.Message, want)
	}
}

func runErrCases(t *testing.T, parse func(string) ([]Comparison, error), cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := parse(tc.in)
		checkInvalid(t, tc.in, err, tc.want)
		if got != nil {
			t.Errorf("%q: got %v with the error, want nil", tc.in, got)
		}
	}
}

func TestParseRunFilter(t *testing.T) {
	runFilterCases(t, ParseRunFilter, []filterCase{
		// Empty filters.
		{"", nil},
		{"   ", nil},
		{"\t\n", nil},

		// Key type aliases.
		{"metric.rmse < 1", []Comparison{metric("rmse", "<", 1)}},
		{"metrics.rmse < 1", []Comparison{metric("rmse", "<", 1)}},
		{"param.lr = '0.1'", []Comparison{param("lr", "=", "0.1")}},
		{"params.lr = '0.1'", []Comparison{param("lr", "=", "0.1")}},
		{"parameter.lr = '0.1'", []Comparison{param("lr", "=", "0.1")}},
		{"parameters.lr = '0.1'", []Comparison{param("lr", "=", "0.1")}},
		{"tag.t = 'x'", []Comparison{tag("t", "=", "x")}},
		{"tags.t = 'x'", []Comparison{tag("t", "=", "x")}},
		{"attribute.status = 'RUNNING'", []Comparison{attr("status", "=", "RUNNING")}},
		{"attributes.status = 'RUNNING'", []Comparison{attr("status", "=", "RUNNING")}},
		{"attr.status = 'RUNNING'", []Comparison{attr("status", "=", "RUNNING")}},
		{"run.status = 'RUNNING'", []Comparison{attr("status", "=", "RUNNING")}},
		{"status = 'RUNNING'", []Comparison{attr("status", "=", "RUNNING")}},
		{"dataset.name = 'ds'", []Comparison{dataset("name", "=", "ds")}},
		{"datasets.name = 'ds'", []Comparison{dataset("name", "=", "ds")}},
		{"`tags`.t = 'x'", []Comparison{tag("t", "=", "x")}},

		// Every run attribute and alias, with and without a prefix.
		{"attributes.run_id = 'r1'", []Comparison{attr("run_id", "=", "r1")}},
		{"run_id = 'r1'", []Comparison{attr("run_id", "=", "r1")}},
		{"attributes.run_name = 'n'", []Comparison{attr("run_name", "=", "n")}},
		{"run_name = 'n'", []Comparison{attr("run_name", "=", "n")}},
		{`attributes."run name" = 'n'`, []Comparison{attr("run_name", "=", "n")}},
		{"attributes.`Run name` = 'n'", []Comparison{attr("run_name", "=", "n")}},
		{"`Run Name` = 'n'", []Comparison{attr("run_name", "=", "n")}},
		{`"run name" = 'n'`, []Comparison{attr("run_name", "=", "n")}},
		{"attributes.user_id = 'u'", []Comparison{attr("user_id", "=", "u")}},
		{"user_id != 'u'", []Comparison{attr("user_id", "!=", "u")}},
		{"attributes.artifact_uri LIKE 's3://%'", []Comparison{attr("artifact_uri", "LIKE", "s3://%")}},
		{"artifact_uri ILIKE '%/ARTIFACTS'", []Comparison{attr("artifact_uri", "ILIKE", "%/ARTIFACTS")}},
		{"attributes.start_time >= 1700000000000", []Comparison{attr("start_time", ">=", 1700000000000.0)}},
		{"start_time < 5", []Comparison{attr("start_time", "<", 5.0)}},
		{"created > 5", []Comparison{attr("start_time", ">", 5.0)}},
		{"Created > 5", []Comparison{attr("start_time", ">", 5.0)}},
		{"attributes.created <= 5", []Comparison{attr("start_time", "<=", 5.0)}},
		{"attributes.end_time != 0", []Comparison{attr("end_time", "!=", 0.0)}},
		{"end_time = 1.5", []Comparison{attr("end_time", "=", 1.5)}},

		// Dataset keys and operators.
		{"datasets.digest = 'abc'", []Comparison{dataset("digest", "=", "abc")}},
		{"datasets.context != 'train'", []Comparison{dataset("context", "!=", "train")}},
		{"datasets.name LIKE 'eval%'", []Comparison{dataset("name", "LIKE", "eval%")}},
		{"datasets.name ILIKE 'EVAL%'", []Comparison{dataset("name", "ILIKE", "EVAL%")}},
		{"datasets.name IN ('a', 'b')", []Comparison{dataset("name", "IN", []string{"a", "b"})}},
		{"datasets.digest NOT IN ('a')", []Comparison{dataset("digest", "NOT IN", []string{"a"})}},
		{"datasets.context IN ('train')", []Comparison{dataset("context", "IN", []string{"train"})}},

		// Every metric operator.
		{"metrics.m = 1", []Comparison{metric("m", "=", 1)}},
		{"metrics.m != 1", []Comparison{metric("m", "!=", 1)}},
		{"metrics.m < 1", []Comparison{metric("m", "<", 1)}},
		{"metrics.m <= 1", []Comparison{metric("m", "<=", 1)}},
		{"metrics.m > 1", []Comparison{metric("m", ">", 1)}},
		{"metrics.m >= 1", []Comparison{metric("m", ">=", 1)}},
		{"metrics.m>=1", []Comparison{metric("m", ">=", 1)}},
		{"metrics.m>-1", []Comparison{metric("m", ">", -1)}},

		// Param and tag operators, keywords in any case.
		{"params.p != 'x'", []Comparison{param("p", "!=", "x")}},
		{"params.p LIKE 'x%'", []Comparison{param("p", "LIKE", "x%")}},
		{"params.p like 'x%'", []Comparison{param("p", "LIKE", "x%")}},
		{"params.p ILIKE 'x%'", []Comparison{param("p", "ILIKE", "x%")}},
		{"params.p iLike 'x%'", []Comparison{param("p", "ILIKE", "x%")}},
		{"params.p IS NULL", []Comparison{param("p", "IS NULL", nil)}},
		{"params.p is not null", []Comparison{param("p", "IS NOT NULL", nil)}},
		{"tags.t IS  NOT\tNULL", []Comparison{tag("t", "IS NOT NULL", nil)}},
		{"tags.t is null", []Comparison{tag("t", "IS NULL", nil)}},
		{"tags.t LIKE '%x'", []Comparison{tag("t", "LIKE", "%x")}},
		{"tags.t ILIKE '%x'", []Comparison{tag("t", "ILIKE", "%x")}},
		{"tags.t != ''", []Comparison{tag("t", "!=", "")}},

		// IN lists.
		{"attributes.run_id IN ('a')", []Comparison{attr("run_id", "IN", []string{"a"})}},
		{"run_id in ('a','b')", []Comparison{attr("run_id", "IN", []string{"a", "b"})}},
		{`run_id IN ( 'a' , "b" , )`, []Comparison{attr("run_id", "IN", []string{"a", "b"})}},
		{"run_id not in ('a')", []Comparison{attr("run_id", "NOT IN", []string{"a"})}},
		{"run_id NOT  IN('a', 'b, c')", []Comparison{attr("run_id", "NOT IN", []string{"a", "b, c"})}},
		{"run_id IN ('a)')", []Comparison{attr("run_id", "IN", []string{"a)"})}},
		// List items are Python literals, as MLflow reads them with
		// ast.literal_eval: escapes are decoded, adjacent literals joined.
		{"run_id IN ('it''s')", []Comparison{attr("run_id", "IN", []string{"its"})}},
		{"run_id IN ('a' \"b\", 'c')", []Comparison{attr("run_id", "IN", []string{"ab", "c"})}},
		{`run_id IN ('a\'b', "c\"d", 'e\\f', '\n\t', '\x41\q')`, []Comparison{attr("run_id", "IN", []string{"a'b", `c"d`, `e\f`, "\n\t", `\x41\q`})}},
		{`run_id IN ('\r\a\b\f\v', 'a\` + "\n" + `b')`, []Comparison{attr("run_id", "IN", []string{"\r\a\b\f\v", "ab"})}},

		// Quoted and dotted keys.
		{`metrics."my metric" > 0`, []Comparison{metric("my metric", ">", 0)}},
		{"metrics.`my metric` > 0", []Comparison{metric("my metric", ">", 0)}},
		{"metrics.'my metric' > 0", []Comparison{metric("my metric", ">", 0)}},
		{"tags.`mlflow.source.name` = 'x'", []Comparison{tag("mlflow.source.name", "=", "x")}},
		{"tags.mlflow.source.name = 'x'", []Comparison{tag("mlflow.source.name", "=", "x")}},
		{"params.a.b = 'x'", []Comparison{param("a.b", "=", "x")}},
		{`params."a.b" = 'x'`, []Comparison{param("a.b", "=", "x")}},
		{"metrics.1abc > 0", []Comparison{metric("1abc", ">", 0)}},
		{"tags.ключ = 'значение'", []Comparison{tag("ключ", "=", "значение")}},
		{"tags.`a b`.c = 'x'", []Comparison{tag("`a b`.c", "=", "x")}},
		{`tags."a""b" = 'x'`, []Comparison{tag(`a""b`, "=", "x")}},

		// String values: both quote styles, kept verbatim as MLflow does.
		{`params.p = "x"`, []Comparison{param("p", "=", "x")}},
		{`params.p = "it's"`, []Comparison{param("p", "=", "it's")}},
		{`params.p = 'say "hi"'`, []Comparison{param("p", "=", `say "hi"`)}},
		{"params.p = 'it''s'", []Comparison{param("p", "=", "it''s")}},
		{`params.p = 'it\'s'`, []Comparison{param("p", "=", `it\'s`)}},
		{`params.p = 'C:\dir\'`, []Comparison{param("p", "=", `C:\dir\`)}},
		{`params.p = 'a\\'`, []Comparison{param("p", "=", `a\\`)}},
		{"params.p = ''", []Comparison{param("p", "=", "")}},
		{`params.p = ""`, []Comparison{param("p", "=", "")}},
		{"params.p = 'a AND b = 1'", []Comparison{param("p", "=", "a AND b = 1")}},
		{"params.p = '1'", []Comparison{param("p", "=", "1")}},

		// Numbers.
		{"metrics.m = 0", []Comparison{metric("m", "=", 0)}},
		{"metrics.m = 42", []Comparison{metric("m", "=", 42)}},
		{"metrics.m = -7", []Comparison{metric("m", "=", -7)}},
		{"metrics.m = 1.5", []Comparison{metric("m", "=", 1.5)}},
		{"metrics.m = .5", []Comparison{metric("m", "=", 0.5)}},
		{"metrics.m = -.5", []Comparison{metric("m", "=", -0.5)}},
		{"metrics.m = 2.", []Comparison{metric("m", "=", 2)}},
		{"metrics.m = 1e5", []Comparison{metric("m", "=", 1e5)}},
		{"metrics.m = 1E5", []Comparison{metric("m", "=", 1e5)}},
		{"metrics.m = 1e+5", []Comparison{metric("m", "=", 1e5)}},
		{"metrics.m = -1.5e-3", []Comparison{metric("m", "=", -1.5e-3)}},
		{"metrics.m < 1e999", []Comparison{metric("m", "<", math.Inf(1))}},
		{"metrics.m > -1e999", []Comparison{metric("m", ">", math.Inf(-1))}},

		// AND, in any case and spacing.
		{"metrics.a > 1 AND params.b = 'x'", []Comparison{metric("a", ">", 1), param("b", "=", "x")}},
		{"metrics.a > 1 and params.b = 'x'", []Comparison{metric("a", ">", 1), param("b", "=", "x")}},
		{"metrics.a > 1 And params.b = 'x' aNd tags.c = 'y'", []Comparison{metric("a", ">", 1), param("b", "=", "x"), tag("c", "=", "y")}},
		{"tags.a='x'AND tags.b='y'", []Comparison{tag("a", "=", "x"), tag("b", "=", "y")}},
		{"  tags.a = 'x'\n\tAND\n tags.b = 'y'  ", []Comparison{tag("a", "=", "x"), tag("b", "=", "y")}},
		{"metrics.a > 1 AND metrics.a < 2", []Comparison{metric("a", ">", 1), metric("a", "<", 2)}},
		{
			"attributes.status = 'FINISHED' AND metrics.acc >= 0.9 AND params.model LIKE 'xgb%' AND tags.`mlflow.user` != 'bot' AND datasets.name IN ('train', 'eval') AND run_id NOT IN ('r1') AND tags.t IS NULL",
			[]Comparison{
				attr("status", "=", "FINISHED"),
				metric("acc", ">=", 0.9),
				param("model", "LIKE", "xgb%"),
				tag("mlflow.user", "!=", "bot"),
				dataset("name", "IN", []string{"train", "eval"}),
				attr("run_id", "NOT IN", []string{"r1"}),
				tag("t", "IS NULL", nil),
			},
		},
	})
}

func TestParseRunFilterErrors(t *testing.T) {
	runErrCases(t, ParseRunFilter, []errCase{
		// Unknown key types and keys.
		{"foo.bar = 'x'", "Invalid entity type 'foo'"},
		{"PARAMS.a = 'x'", "Invalid entity type 'PARAMS'"},
		{`"tags".a = 'x'`, `Invalid entity type '"tags"'`},
		{"attributes.foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are"},
		{"foo = 'x'", "Invalid attribute key 'foo'"},
		{"params = 'x'", "Invalid attribute key 'params'"},
		{"Status = 'x'", "Invalid attribute key 'Status'"},
		{"attributes.lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'"},
		{"attributes.experiment_id = '0'", "Invalid attribute key 'experiment_id'"},
		{"datasets.foo = 'x'", "Invalid dataset key 'foo'"},
		{"tags.`` = 'x'", "Invalid identifier"},

		// Operators not allowed on the key type.
		{"metrics.m LIKE 1", "Invalid comparator 'LIKE'"},
		{"metrics.m ILIKE 'x'", "Invalid comparator 'ILIKE'"},
		{"metrics.m IN (1)", "Invalid comparator 'IN'"},
		{"metrics.m IS NULL", "IS NULL / IS NOT NULL is only supported for tags and params"},
		{"params.p > 'x'", "Invalid comparator '>'"},
		{"params.p IN ('x')", "Invalid comparator 'IN'"},
		{"tags.t <= 'x'", "Invalid comparator '<='"},
		{"tags.t NOT IN ('x')", "Invalid comparator 'NOT IN'"},
		{"tags.t NOT LIKE 'x'", "Invalid comparator 'NOT LIKE'"},
		{"tags.t RLIKE 'x'", "Invalid comparator 'RLIKE'"},
		{"params.p == 'x'", "Invalid comparator '=='"},
		{"params.p <> 'x'", "Invalid comparator '<>'"},
		{"metrics.m => 1", "Invalid comparator '=>'"},
		{"start_time LIKE 1", "Invalid comparator 'LIKE'"},
		{"start_time IN ('1')", "Invalid comparator 'IN'"},
		{"status > 'A'", "Invalid comparator '>'"},
		{"status IN ('A')", "Only ['run_id'] attributes support comparison with a list"},
		{"run_name NOT IN ('A')", "Only ['run_id'] attributes support comparison with a list"},
		{"status IS NULL", "IS NULL / IS NOT NULL is only supported for tags and params, not for attribute 'status'"},
		{"datasets.name IS NOT NULL", "IS NULL / IS NOT NULL is only supported"},
		{"datasets.name < 'a'", "Invalid comparator '<'"},
		{"tags.t foo 'x'", "Expected comparison found 'foo'"},
		{"tags.t IS 'x'", "Expected comparison found 'IS'"},
		{"tags.t NOT 'x'", "Expected comparison found 'NOT'"},

		// Value types.
		{"metrics.m > '1'", "Expected numeric value type for metric. Found '1'"},
		{`metrics.m > "1"`, "Expected numeric value type for metric"},
		{"metrics.m > abc", "Expected numeric value type for metric. Found abc"},
		{"metrics.m > nan", "Expected numeric value type for metric"},
		{"metrics.m > inf", "Expected numeric value type for metric"},
		{"metrics.m > +1", "Expected numeric value type for metric"},
		{"metrics.m > - 1", "Expected numeric value type for metric"},
		{"metrics.m > 0x1F", "Expected numeric value type for metric"},
		{"metrics.m > 1_000", "Expected numeric value type for metric"},
		{"metrics.m > 1abc", "Expected numeric value type for metric"},
		{"metrics.m > 1e", "Expected numeric value type for metric"},
		{"metrics.m > 1.2.3", "Expected numeric value type for metric"},
		{"metrics.m > .", "Expected numeric value type for metric"},
		{"metrics.m > `1`", "Expected numeric value type for metric"},
		{"start_time > '1'", "Expected numeric value type for numeric attribute: start_time"},
		{"params.p = 1", "Expected a quoted string value for param"},
		{"run_id = 1", "Expected a quoted string value for attribute"},
		{"params.p = x", "Parameter value is either not quoted or unidentified quote types used for string value x"},
		{"params.p = `x`", "Parameter value is either not quoted"},
		{"tags.t = NULL", "Parameter value is either not quoted"},
		{"run_id = ('a')", "Expected value token found '('"},

		// IN lists.
		{"run_id IN ()", "expected a non-empty list of string values, but got empty list"},
		{"run_id IN ( )", "but got empty list"},
		{"run_id IN (,)", "ill-formed list"},
		{"run_id IN ('a',,'b')", "ill-formed list"},
		{"run_id IN ('a' 1)", "ill-formed list"},
		{"run_id IN ('a\nb')", "ill-formed list"},
		{"run_id IN ('a'", "ill-formed list"},
		{"run_id IN ('a',", "ill-formed list"},
		{"run_id IN ('a", "ill-formed list"},
		{"run_id IN (('a'))", "ill-formed list"},
		{"run_id IN ('a', 1)", "got different type in list: ('a', 1)"},
		{"run_id IN (a)", "got different type in list"},
		{"run_id IN 'a'", "expected a parenthesised list"},
		{"run_id IN", "Expected a list of quoted strings found end of string"},

		// Structure.
		{"metrics.a > 1 OR metrics.b > 1", "Invalid clause(s) in filter string: 'OR'"},
		{"metrics.a > 1 or metrics.b > 1", "Invalid clause(s) in filter string: 'or'"},
		{"metrics.a > 1 metrics.b > 1", "Invalid clause(s) in filter string: 'metrics.b'"},
		{"metrics.a > 1 garbage", "Invalid clause(s) in filter string: 'garbage'"},
		{"metrics.a > 1;", "Invalid clause(s) in filter string: ';'"},
		{"metrics.a > 1; metrics.b > 1", "Invalid clause(s) in filter string: ';'"},
		{"metrics.a > 1)", "Invalid clause(s) in filter string: ')'"},
		{"metrics.a > 1 -- comment", "Invalid clause(s) in filter string: '--'"},
		{"tags.t = 'x' ANDtags.u = 'y'", "Invalid clause(s) in filter string: 'ANDtags.u'"},
		{"metrics.a > 1 AND", "expected a comparison after 'AND'"},
		{"metrics.a > 1 AND ", "expected a comparison after 'AND'"},
		{"AND metrics.a > 1", "'AND' with no comparison before it"},
		{"metrics.a > 1 AND AND metrics.b > 1", "'AND' with no comparison before it"},
		{"(metrics.a > 1)", "Expected 'Identifier' found '(metrics.a'"},
		{"NOT metrics.a > 1", "Invalid attribute key 'NOT'"},
		{"metrics.a", "Expected comparison found end of string"},
		{"metrics.a >", "Expected value token found end of string"},
		{"metrics.a > AND", "Expected numeric value type for metric. Found AND"},
		{"tags.t = 'x' AND metrics.a", "Expected comparison found end of string"},
		{"'a' = 'x'", "Expected 'Identifier' found ''a''"},
		{"1 = 1", "Invalid attribute key '1'"},
		{"= 'x'", "Expected 'Identifier' found '='"},
		{".a = 'x'", "Expected 'Identifier' found '.a'"},
		{"tags. a = 'x'", "Expected 'Identifier' found 'tags.'"},
		{"tags.a. = 'x'", "Expected 'Identifier' found 'tags.a.'"},
		{"tags..a = 'x'", "Expected 'Identifier' found 'tags..a'"},
		{"tags .a = 'x'", "Invalid attribute key 'tags'"},
		{"tags.a-b = 'x'", "Expected comparison found '-'"},
		{"metrics.loss/val > 1", "Expected comparison found '/'"},

		// Unbalanced quotes.
		{"params.p = 'x", "unterminated quote in ''x'"},
		{`params.p = "x`, "unterminated quote"},
		{"params.p = 'x''", "unterminated quote"},
		{"params.p = `x", "unterminated quote"},
		{"tags.`a = 'x'", "Invalid clause(s) in filter string"},
		{`tags."a = 'x'`, "Invalid clause(s) in filter string"},
		{"tags.'a = 'x'", "unterminated quote"},
		{"tags.t = 'x' AND tags.u = 'y", "unterminated quote"},

		// Not UTF-8.
		{"tags.t = '\xff'", "not valid UTF-8"},
	})
}

func TestParseRunOrderBy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want OrderBy
	}{
		{"metrics.rmse", OrderBy{KeyMetric, "rmse", true, "", ""}},
		{"metrics.rmse DESC", OrderBy{KeyMetric, "rmse", false, "", ""}},
		{"metrics.rmse desc", OrderBy{KeyMetric, "rmse", false, "", ""}},
		{"metrics.rmse Desc", OrderBy{KeyMetric, "rmse", false, "", ""}},
		{"metrics.rmse ASC", OrderBy{KeyMetric, "rmse", true, "", ""}},
		{"metrics.rmse asc", OrderBy{KeyMetric, "rmse", true, "", ""}},
		{"metrics.rmse\tDESC", OrderBy{KeyMetric, "rmse", false, "", ""}},
		{"  metrics.rmse   DESC  ", OrderBy{KeyMetric, "rmse", false, "", ""}},
		{"metric.rmse", OrderBy{KeyMetric, "rmse", true, "", ""}},
		{"param.p", OrderBy{KeyParam, "p", true, "", ""}},
		{"params.p", OrderBy{KeyParam, "p", true, "", ""}},
		{"parameter.p", OrderBy{KeyParam, "p", true, "", ""}},
		{"parameters.p DESC", OrderBy{KeyParam, "p", false, "", ""}},
		{"params.`a b` ASC", OrderBy{KeyParam, "a b", true, "", ""}},
		{`params."a b" ASC`, OrderBy{KeyParam, "a b", true, "", ""}},
		{"params.'a b' ASC", OrderBy{KeyParam, "a b", true, "", ""}},
		{"`params`.a", OrderBy{KeyParam, "a", true, "", ""}},
		{"tag.t", OrderBy{KeyTag, "t", true, "", ""}},
		{"tags.`mlflow.source.name` DESC", OrderBy{KeyTag, "mlflow.source.name", false, "", ""}},
		{"tags.a.b", OrderBy{KeyTag, "a.b", true, "", ""}},
		{"attribute.start_time", OrderBy{KeyAttribute, "start_time", true, "", ""}},
		{"attributes.start_time DESC", OrderBy{KeyAttribute, "start_time", false, "", ""}},
		{"attr.end_time", OrderBy{KeyAttribute, "end_time", true, "", ""}},
		{"run.status", OrderBy{KeyAttribute, "status", true, "", ""}},
		{"start_time", OrderBy{KeyAttribute, "start_time", true, "", ""}},
		{"created DESC", OrderBy{KeyAttribute, "start_time", false, "", ""}},
		{"attribute.Created", OrderBy{KeyAttribute, "start_time", true, "", ""}},
		{"run_name", OrderBy{KeyAttribute, "run_name", true, "", ""}},
		{"run_id", OrderBy{KeyAttribute, "run_id", true, "", ""}},
		{"user_id", OrderBy{KeyAttribute, "user_id", true, "", ""}},
		{"artifact_uri", OrderBy{KeyAttribute, "artifact_uri", true, "", ""}},
		{"status", OrderBy{KeyAttribute, "status", true, "", ""}},
		{"end_time", OrderBy{KeyAttribute, "end_time", true, "", ""}},
		{"metrics.`a`b", OrderBy{KeyMetric, "`a`b", true, "", ""}},
	} {
		got, err := ParseRunOrderBy(tc.in)
		if err != nil {
			t.Errorf("%q: unexpected error: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRunOrderByErrors(t *testing.T) {
	for _, tc := range []errCase{
		{"", "Invalid order_by clause ''. Could not be parsed."},
		{"   ", "Could not be parsed"},
		{"metrics.rmse DOWN", "Invalid ordering key in order_by clause 'metrics.rmse DOWN'."},
		{"metrics.a b", "Invalid ordering key"},
		{"metrics.rmse DESC ASC", "Could not be parsed"},
		{"metrics.rmse,metrics.b", "Could not be parsed"},
		{"metrics.rmse, metrics.b", "Could not be parsed"},
		{"metrics.a; DESC", "Could not be parsed"},
		{"metrics.a DESC;", "Could not be parsed"},
		{"metrics.a -- x", "Could not be parsed"},
		{"metrics.", "Could not be parsed"},
		{"metrics.`a", "Could not be parsed"},
		{"DESC", "Invalid attribute key 'DESC'"},
		{"foo.bar", "Invalid entity type 'foo'"},
		{`"metrics".a`, "Invalid entity type"},
		{"attributes.foo", "Invalid attribute key 'foo'"},
		{"timestamp", "Invalid attribute key 'timestamp'"},
		{"lifecycle_stage", "Invalid attribute key"},
		{"datasets.name", "Invalid order_by entity type 'dataset'"},
		{"datasets.foo", "Invalid dataset key 'foo'"},
		{"metrics.a > 1", "Could not be parsed"},
		{"'metrics.a'", "Could not be parsed"},
		{"\xff", "not valid UTF-8"},
	} {
		_, err := ParseRunOrderBy(tc.in)
		checkInvalid(t, tc.in, err, tc.want)
	}
}

func TestParseExperimentFilter(t *testing.T) {
	runFilterCases(t, ParseExperimentFilter, []filterCase{
		{"", nil},
		{"  ", nil},
		{"name = 'exp'", []Comparison{attr("name", "=", "exp")}},
		{"attribute.name = 'exp'", []Comparison{attr("name", "=", "exp")}},
		{"`name` = 'exp'", []Comparison{attr("name", "=", "exp")}},
		{`"name" = 'exp'`, []Comparison{attr("name", "=", "exp")}},
		{"name != 'exp'", []Comparison{attr("name", "!=", "exp")}},
		{"name LIKE 'exp%'", []Comparison{attr("name", "LIKE", "exp%")}},
		{"name ilike 'EXP%'", []Comparison{attr("name", "ILIKE", "EXP%")}},
		{`name = "it's"`, []Comparison{attr("name", "=", "it's")}},
		{"experiment_id = '1'", []Comparison{attr("experiment_id", "=", "1")}},
		{"attribute.experiment_id != '1'", []Comparison{attr("experiment_id", "!=", "1")}},
		{"experiment_id IN ('1', '2')", []Comparison{attr("experiment_id", "IN", []string{"1", "2"})}},
		{"experiment_id not in ('1')", []Comparison{attr("experiment_id", "NOT IN", []string{"1"})}},
		{"creation_time = 1", []Comparison{attr("creation_time", "=", 1.0)}},
		{"creation_time != 1", []Comparison{attr("creation_time", "!=", 1.0)}},
		{"creation_time > 1700000000000", []Comparison{attr("creation_time", ">", 1700000000000.0)}},
		{"attribute.creation_time >= -1", []Comparison{attr("creation_time", ">=", -1.0)}},
		{"last_update_time < 5", []Comparison{attr("last_update_time", "<", 5.0)}},
		{"last_update_time <= 5", []Comparison{attr("last_update_time", "<=", 5.0)}},
		{"tags.k = 'v'", []Comparison{tag("k", "=", "v")}},
		{"tag.k != 'v'", []Comparison{tag("k", "!=", "v")}},
		{"tags.`a.b` LIKE 'v%'", []Comparison{tag("a.b", "LIKE", "v%")}},
		{`tags."a b" ILIKE 'v%'`, []Comparison{tag("a b", "ILIKE", "v%")}},
		{"tags.k IS NULL", []Comparison{tag("k", "IS NULL", nil)}},
		{"tags.k IS NOT NULL", []Comparison{tag("k", "IS NOT NULL", nil)}},
		{
			"name LIKE 'a%' and tags.k = 'v' AND creation_time > 0 And experiment_id IN ('0')",
			[]Comparison{attr("name", "LIKE", "a%"), tag("k", "=", "v"), attr("creation_time", ">", 0.0), attr("experiment_id", "IN", []string{"0"})},
		},
	})
}

func TestParseExperimentFilterErrors(t *testing.T) {
	runErrCases(t, ParseExperimentFilter, []errCase{
		{"attributes.name = 'x'", "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"},
		{"attr.name = 'x'", "Invalid entity type 'attr'"},
		{"params.p = 'x'", "Invalid entity type 'params'"},
		{"metrics.m > 1", "Invalid entity type 'metrics'"},
		{"datasets.name = 'x'", "Invalid entity type 'datasets'"},
		{"lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '{'creation_time', 'experiment_id', 'last_update_time', 'name'}'"},
		{"artifact_location = 'x'", "Invalid attribute key 'artifact_location'"},
		{"name > 'x'", "Invalid comparator '>'"},
		{"name IN ('x')", "Only ['experiment_id'] attributes support comparison with a list"},
		{"name IS NULL", "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"},
		{"name = 1", "Expected a quoted string value for attribute"},
		{"experiment_id LIKE '1'", "Invalid comparator 'LIKE'"},
		{"experiment_id > '1'", "Invalid comparator '>'"},
		{"experiment_id = 1", "Expected a quoted string value"},
		{"creation_time LIKE 1", "Invalid comparator 'LIKE'"},
		{"creation_time > '1'", "Expected numeric value type for numeric attribute: creation_time"},
		{"creation_time > 1.5", "Invalid value for numeric attribute 'creation_time': '1.5'"},
		{"creation_time > 1e3", "Invalid value for numeric attribute"},
		{"last_update_time > 99999999999999999999", "Invalid value for numeric attribute"},
		{"tags.k > 'v'", "Invalid comparator '>'"},
		{"tags.k IN ('v')", "Invalid comparator 'IN'"},
		{"name = 'x' OR name = 'y'", "Invalid clause(s) in filter string: 'OR'"},
		{"name = 'x", "unterminated quote"},
		{"name = 'x' AND", "expected a comparison after 'AND'"},
	})
}

func TestParseExperimentOrderBy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want OrderBy
	}{
		{"name", OrderBy{KeyAttribute, "name", true, "", ""}},
		{"name DESC", OrderBy{KeyAttribute, "name", false, "", ""}},
		{"attribute.name desc", OrderBy{KeyAttribute, "name", false, "", ""}},
		{"experiment_id ASC", OrderBy{KeyAttribute, "experiment_id", true, "", ""}},
		{"creation_time", OrderBy{KeyAttribute, "creation_time", true, "", ""}},
		{"last_update_time DESC", OrderBy{KeyAttribute, "last_update_time", false, "", ""}},
		{"`name`", OrderBy{KeyAttribute, "name", true, "", ""}},
	} {
		got, err := ParseExperimentOrderBy(tc.in)
		if err != nil {
			t.Errorf("%q: unexpected error: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []errCase{
		{"", "Could not be parsed"},
		{"tags.k", "Invalid order_by entity type 'tag'"},
		{"attributes.name", "Invalid entity type 'attributes'"},
		{"lifecycle_stage", "Invalid attribute key 'lifecycle_stage'"},
		{"name UP", "Invalid ordering key"},
		{"name DESC name", "Could not be parsed"},
	} {
		_, err := ParseExperimentOrderBy(tc.in)
		checkInvalid(t, tc.in, err, tc.want)
	}
}

func TestParseLoggedModelFilter(t *testing.T) {
	runFilterCases(t, ParseLoggedModelFilter, []filterCase{
		{"", nil},
		{"name = 'm'", []Comparison{attr("name", "=", "m")}},
		{"attributes.name != 'm'", []Comparison{attr("name", "!=", "m")}},
		{"attribute.name LIKE 'm%'", []Comparison{attr("name", "LIKE", "m%")}},
		{"attr.name ILIKE 'M%'", []Comparison{attr("name", "ILIKE", "M%")}},
		{"name IN ('a', 'b')", []Comparison{attr("name", "IN", []string{"a", "b"})}},
		{"model_id NOT IN ('m-1')", []Comparison{attr("model_id", "NOT IN", []string{"m-1"})}},
		{"model_type = 'agent'", []Comparison{attr("model_type", "=", "agent")}},
		{"status = 'READY'", []Comparison{attr("status", "=", "READY")}},
		{"source_run_id = 'r'", []Comparison{attr("source_run_id", "=", "r")}},
		{"creation_timestamp > 1", []Comparison{attr("creation_timestamp", ">", 1.0)}},
		{"creation_time >= 1", []Comparison{attr("creation_timestamp", ">=", 1.0)}},
		{"attributes.creation_time < 1.5", []Comparison{attr("creation_timestamp", "<", 1.5)}},
		{"last_updated_timestamp <= 1", []Comparison{attr("last_updated_timestamp", "<=", 1.0)}},
		{"last_updated_time != 1", []Comparison{attr("last_updated_timestamp", "!=", 1.0)}},
		{"metrics.acc > 0.5", []Comparison{metric("acc", ">", 0.5)}},
		{"metric.acc = 1", []Comparison{metric("acc", "=", 1)}},
		{"params.p = 'x'", []Comparison{param("p", "=", "x")}},
		{"param.p IN ('x', 'y')", []Comparison{param("p", "IN", []string{"x", "y"})}},
		{"tags.`a.b` NOT IN ('x')", []Comparison{tag("a.b", "NOT IN", []string{"x"})}},
		{"tag.t LIKE 'x%'", []Comparison{tag("t", "LIKE", "x%")}},
		{
			"metrics.accuracy > 0.9 AND params.lr = '0.01' and tags.env != 'dev' AND name LIKE 'm%'",
			[]Comparison{metric("accuracy", ">", 0.9), param("lr", "=", "0.01"), tag("env", "!=", "dev"), attr("name", "LIKE", "m%")},
		},
	})
}

func TestParseLoggedModelFilterErrors(t *testing.T) {
	runErrCases(t, ParseLoggedModelFilter, []errCase{
		{"datasets.name = 'x'", "Invalid entity type 'datasets'"},
		{"run.name = 'x'", "Invalid entity type 'run'"},
		{"foo = 'x'", "Invalid attribute key 'foo'"},
		{"experiment_id = '1'", "Invalid attribute key 'experiment_id'"},
		{"metrics.m LIKE 'x'", "Invalid comparator 'LIKE'"},
		{"name > 'x'", "Invalid comparator '>'"},
		{"creation_time IN ('1')", "Invalid comparator 'IN'"},
		{"tags.t IS NULL", "IS NULL / IS NOT NULL is not supported"},
		{"creation_time > '1'", "Expected numeric value type for numeric attribute: creation_timestamp"},
		{"metrics.m > 'x'", "Expected numeric value type for metric"},
		{"params.p = 1", "Expected a quoted string value for param"},
		{"name IN ()", "empty list"},
		{"name = 'x' OR name = 'y'", "Invalid clause(s) in filter string: 'OR'"},
	})
}

func TestParseLoggedModelOrderBy(t *testing.T) {
	for _, tc := range []struct {
		field         string
		asc           bool
		dsName, dsDig string
		want          OrderBy
	}{
		{"name", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "name", Asc: true}},
		{" name ", false, "", "", OrderBy{KeyType: KeyAttribute, Key: "name"}},
		{"creation_time", false, "", "", OrderBy{KeyType: KeyAttribute, Key: "creation_timestamp"}},
		{"creation_timestamp", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "creation_timestamp", Asc: true}},
		{"last_updated_time", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "last_updated_timestamp", Asc: true}},
		{"last_updated_timestamp", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "last_updated_timestamp", Asc: true}},
		{"model_id", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "model_id", Asc: true}},
		{"model_type", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "model_type", Asc: true}},
		{"status", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "status", Asc: true}},
		{"source_run_id", true, "", "", OrderBy{KeyType: KeyAttribute, Key: "source_run_id", Asc: true}},
		{"name", true, "ds", "", OrderBy{KeyType: KeyAttribute, Key: "name", Asc: true}},
		{"metrics.acc", false, "", "", OrderBy{KeyType: KeyMetric, Key: "acc"}},
		{"metrics.a.b c", true, "", "", OrderBy{KeyType: KeyMetric, Key: "a.b c", Asc: true}},
		{"metrics.acc", true, "ds", "", OrderBy{KeyType: KeyMetric, Key: "acc", Asc: true, DatasetName: "ds"}},
		{"metrics.acc", true, "ds", "d1", OrderBy{KeyType: KeyMetric, Key: "acc", Asc: true, DatasetName: "ds", DatasetDigest: "d1"}},
	} {
		got, err := ParseLoggedModelOrderBy(tc.field, tc.asc, tc.dsName, tc.dsDig)
		if err != nil {
			t.Errorf("%q: unexpected error: %v", tc.field, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.field, got, tc.want)
		}
	}
	for _, tc := range []struct {
		field, dsName, dsDig, want string
	}{
		{"", "", "", "`field_name` in the `order_by` clause must be specified."},
		{"foo", "", "", "Invalid order by field name: foo."},
		{"experiment_id", "", "", "Invalid order by field name"},
		{"params.p", "", "", "Invalid order by field name: params, only `metrics.<name>` is allowed."},
		{"tags.t", "", "", "only `metrics.<name>` is allowed"},
		{"metrics.", "", "", "Invalid order by field name: metrics.."},
		{"metrics.acc", "", "d1", "`dataset_digest` can only be specified if `dataset_name` is also specified."},
	} {
		_, err := ParseLoggedModelOrderBy(tc.field, true, tc.dsName, tc.dsDig)
		checkInvalid(t, tc.field, err, tc.want)
	}
}

// The fuzz targets check that the parsers never panic, that every error is
// an EInvalid *lode.Error, that what they accept is well formed, and that
// it survives being written back in canonical form and parsed again.

var filterSeeds = []string{
	"",
	"metrics.rmse < 1 AND params.lr = '0.1'",
	"metrics.`my metric` >= -1.5e-3 and tags.\"a b\" != \"it's\"",
	"attributes.run_id IN ('a', \"b\",) AND datasets.name NOT IN ('x')",
	"tags.`mlflow.source.name` LIKE '%.py' AND params.a.b ILIKE 'X%'",
	"params.p IS NULL AND tags.t is not null",
	"status = 'FINISHED' AND start_time > 1700000000000 AND created <= 5",
	"`Run Name` = 'x' AND \"run name\" != 'y'",
	"name LIKE 'exp%' AND experiment_id IN ('1') AND creation_time > 0",
	"tags.k = 'it''s' AND tags.j = 'a\\'b'",
	"metrics.a > 1 OR metrics.b > 2",
	"metrics.a > 1 AND",
	"run_id IN ()",
	"params.p = 'unterminated",
	"(metrics.a > 1)",
	"metrics.a > 1e999",
	"tags.t = 'x' ANDtags.u = 'y'",
}

func FuzzParseRunFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fuzzFilter(t, runLang, ParseRunFilter, s)
	})
}

func FuzzParseExperimentFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fuzzFilter(t, experimentLang, ParseExperimentFilter, s)
	})
}

func FuzzParseLoggedModelFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fuzzFilter(t, loggedModelLang, ParseLoggedModelFilter, s)
	})
}

func FuzzParseRunOrderBy(f *testing.F) {
	for _, s := range []string{
		"metrics.rmse DESC", "attributes.start_time", "params.`a b` ASC",
		"tags.\"x.y\" desc", "created", "run_name asc", "metrics.`a`b",
		"datasets.name", "metrics.a b", "metrics.a, metrics.b", "", "'x'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ob, err := ParseRunOrderBy(s)
		if err != nil {
			var le *lode.Error
			if !errors.As(err, &le) || le.Code != lode.EInvalid {
				t.Fatalf("%q: error %v is not an EInvalid *lode.Error", s, err)
			}
			return
		}
		if !runLang.orderEntities[ob.KeyType] || ob.Key == "" {
			t.Fatalf("%q: bad order by %+v", s, ob)
		}
		if strings.Contains(ob.Key, "`") {
			return
		}
		dir := " DESC"
		if ob.Asc {
			dir = " ASC"
		}
		again, err := ParseRunOrderBy(ob.KeyType + ".`" + ob.Key + "`" + dir)
		if err != nil || again != ob {
			t.Fatalf("%q: parsed to %+v, which reparses to %+v, %v", s, ob, again, err)
		}
	})
}

func fuzzFilter(t *testing.T, l *language, parse func(string) ([]Comparison, error), s string) {
	cs, err := parse(s)
	if err != nil {
		var le *lode.Error
		if !errors.As(err, &le) || le.Code != lode.EInvalid {
			t.Fatalf("%q: error %v is not an EInvalid *lode.Error", s, err)
		}
		if cs != nil {
			t.Fatalf("%q: comparisons %v returned with an error", s, cs)
		}
		return
	}
	if strings.TrimSpace(s) == "" {
		if cs != nil {
			t.Fatalf("%q: blank filter gave %v", s, cs)
		}
		return
	}
	if len(cs) == 0 {
		t.Fatalf("%q: no comparisons and no error", s)
	}
	for _, c := range cs {
		checkComparison(t, l, s, c)
	}
	canon, ok := renderFilter(cs)
	if !ok {
		return
	}
	again, err := parse(canon)
	if err != nil || !reflect.DeepEqual(again, cs) {
		t.Fatalf("%q: parsed to %#v, written back as %q, which parses to %#v, %v", s, cs, canon, again, err)
	}
}

// checkComparison checks that c is something language l allows.
func checkComparison(t *testing.T, l *language, s string, c Comparison) {
	t.Helper()
	if c.Key == "" {
		t.Fatalf("%q: empty key in %#v", s, c)
	}
	var ops []string
	numeric := false
	switch c.KeyType {
	case KeyAttribute:
		spec, ok := l.attrs[c.Key]
		if !ok || spec.canonical != c.Key {
			t.Fatalf("%q: attribute %q is not canonical", s, c.Key)
		}
		ops, numeric = spec.ops, spec.numeric
	case KeyDataset:
		if !l.datasetKeys[c.Key] {
			t.Fatalf("%q: bad dataset key %q", s, c.Key)
		}
		ops = l.ops[c.KeyType]
	default:
		var ok bool
		if ops, ok = l.ops[c.KeyType]; !ok {
			t.Fatalf("%q: key type %q not in the language", s, c.KeyType)
		}
		numeric = c.KeyType == KeyMetric
	}
	if !contains(ops, c.Op) {
		t.Fatalf("%q: operator %q not allowed in %#v", s, c.Op, c)
	}
	switch v := c.Value.(type) {
	case nil:
		if c.Op != "IS NULL" && c.Op != "IS NOT NULL" {
			t.Fatalf("%q: nil value in %#v", s, c)
		}
	case []string:
		if (c.Op != "IN" && c.Op != "NOT IN") || len(v) == 0 {
			t.Fatalf("%q: bad list in %#v", s, c)
		}
	case float64:
		if !numeric || math.IsNaN(v) {
			t.Fatalf("%q: bad number in %#v", s, c)
		}
	case string:
		if numeric || c.Op == "IN" || c.Op == "NOT IN" || strings.HasPrefix(c.Op, "IS ") {
			t.Fatalf("%q: bad string in %#v", s, c)
		}
	default:
		t.Fatalf("%q: value of type %T in %#v", s, v, c)
	}
}

// renderFilter writes comparisons back as a filter string in canonical
// form; ok is false where a key or value has no safe canonical spelling.
func renderFilter(cs []Comparison) (string, bool) {
	quote := func(v string) (string, bool) {
		switch {
		case strings.ContainsAny(v, "\\\n\r"):
			return "", false
		case !strings.Contains(v, "'"):
			return "'" + v + "'", true
		case !strings.Contains(v, `"`):
			return `"` + v + `"`, true
		}
		return "", false
	}
	var parts []string
	for _, c := range cs {
		if strings.Contains(c.Key, "`") {
			return "", false
		}
		p := c.KeyType + ".`" + c.Key + "` " + c.Op
		switch v := c.Value.(type) {
		case float64:
			if math.IsInf(v, 0) || math.Abs(v) >= 1<<62 {
				return "", false
			}
			p += " " + strconv.FormatFloat(v, 'f', -1, 64)
		case string:
			q, ok := quote(v)
			if !ok {
				return "", false
			}
			p += " " + q
		case []string:
			var items []string
			for _, s := range v {
				q, ok := quote(s)
				if !ok {
					return "", false
				}
				items = append(items, q)
			}
			p += " (" + strings.Join(items, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " AND "), true
}

func TestFilterErrorsClipLongInput(t *testing.T) {
	long := strings.Repeat("é", 300)
	for _, in := range []string{"attributes." + long + " = 'x'", "metrics.m > " + long} {
		_, err := ParseRunFilter(in)
		checkInvalid(t, in, err, "...")
		msg := lode.ErrorMessage(err)
		if len(msg) > 400 || !utf8.ValidString(msg) {
			t.Errorf("message of %d bytes, valid UTF-8 %v: %q", len(msg), utf8.ValidString(msg), msg)
		}
	}
}
