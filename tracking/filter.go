package tracking

// MLflow's search languages: the filter strings of search_runs,
// search_experiments and search_logged_models, and the order_by clauses of
// search_runs and search_experiments (and the order_by objects of
// search_logged_models), parsed into Comparison and OrderBy values that
// storage adapters compile to their query language.
//
// The grammar follows what MLflow (mlflow/utils/search_utils.py and
// mlflow/utils/search_logged_model_utils.py, MLflow 3) accepts through
// sqlparse, with the per-key-type operator rules its SQL store enforces, so
// that an invalid filter is rejected here rather than in the store:
//
//	filter     = [ comparison { "AND" comparison } ]
//	comparison = identifier op value
//	           | identifier ("IN" | "NOT IN") "(" string { "," string } [","] ")"
//	           | identifier ("IS NULL" | "IS NOT NULL")
//	identifier = [ entity "." ] key
//	op         = "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE"
//	value      = string | number
//	string     = "'" ... "'" | '"' ... '"'
//	number     = ["-"] ( digits ["." [digits]] | "." digits ) [("e"|"E") ["+"|"-"] digits]
//
// Keywords (AND, LIKE, ILIKE, IN, NOT, IS, NULL, ASC, DESC) are
// case-insensitive; entity types and attribute names are case-sensitive, as
// in MLflow. An identifier has no whitespace; its parts are runs of word
// characters or quoted segments ("my key", 'my key', `my key`) and are
// separated by dots. The first unquoted dot separates the entity type from
// the key, so params.a.b has key "a.b"; a key that is one quoted segment is
// unquoted (tags.`mlflow.source.name` has key "mlflow.source.name").
//
// Quoted strings, like in MLflow, end at the first quote that is neither
// doubled ('it''s') nor preceded by a backslash ('it\'s'), and their text is
// kept verbatim: MLflow does not unescape them either, so 'it''s' is the
// five-character value it''s, not it's (to match a value with a single
// quote, double-quote it: "it's"). The items of an IN list, which MLflow
// reads with Python's ast.literal_eval, are Python string literals instead:
// backslash escapes are decoded and adjacent literals joined, so
// ('it''s', 'a\'b') is [its a'b].
//
// Where this parser is stricter than MLflow, it rejects input that MLflow
// silently tolerates or mishandles: a dangling or doubled AND, comparisons
// not separated by AND, empty identifier parts (tags.a.), whitespace inside
// an identifier, and a list on the right of = != LIKE ILIKE. Where it is
// looser, it accepts input MLflow would reject for no useful reason: 1e+5
// (MLflow wants 1e5), several spaces in IS NOT NULL, lower-case operators
// on experiment attributes, leading and trailing whitespace around an
// order_by clause, and a backquoted entity type in any language. The
// attribute aliases (created, run name, ...) only apply to attributes: the
// SQL store of MLflow also renames tags.created to tags.start_time, which
// is a bug this parser does not copy.

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lode-ml/lode"
)

// Key types of a search filter or order_by clause, after MLflow's aliases
// (metric/metrics, param/params/parameter/parameters, tag/tags,
// attribute/attributes/attr/run, dataset/datasets) are normalised.
const (
	KeyMetric    = "metric"
	KeyParam     = "param"
	KeyTag       = "tag"
	KeyAttribute = "attribute"
	KeyDataset   = "dataset"
)

// Comparison is one `key op value` term of a filter; a filter is the AND of
// its comparisons. Storage adapters compile it to their query language.
type Comparison struct {
	KeyType string // one of the Key* constants
	Key     string // normalised: e.g. attribute "run_name", metric "rmse"
	// Op is one of = != < <= > >= LIKE ILIKE IN "NOT IN", upper case, or
	// "IS NULL" / "IS NOT NULL" (MLflow 3: params and tags of runs, tags of
	// experiments), which test whether the param or tag exists.
	Op string
	// Value is a float64 for numeric keys (metrics, numeric attributes), a
	// string for string keys, and a []string for IN / NOT IN. It is nil for
	// IS NULL / IS NOT NULL.
	Value any
}

// OrderBy is one order_by clause.
type OrderBy struct {
	KeyType string
	Key     string
	Asc     bool
	// DatasetName and DatasetDigest restrict a logged-model metric ordering
	// (KeyType KeyMetric from ParseLoggedModelOrderBy) to the metric values
	// logged on that dataset; empty means any. Other order_by clauses leave
	// them empty.
	DatasetName   string
	DatasetDigest string
}

// Operator sets, in the order error messages list them.
var (
	opsNumeric    = []string{"=", "!=", "<", "<=", ">", ">="}
	opsString     = []string{"=", "!=", "LIKE", "ILIKE"}
	opsStringList = []string{"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}
	opsNullable   = []string{"=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"}
	opsID         = []string{"=", "!=", "IN", "NOT IN"}
)

// opsKnown are the operators the lexer recognises; one outside a key's set
// is reported as an invalid comparator rather than as a syntax error.
var opsKnown = map[string]bool{
	"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"==": true, "<>": true,
	"LIKE": true, "ILIKE": true, "RLIKE": true, "NOT LIKE": true, "NOT ILIKE": true,
	"IN": true, "NOT IN": true, "IS NULL": true, "IS NOT NULL": true,
}

// attrSpec describes one attribute name a language accepts.
type attrSpec struct {
	canonical string   // the normalised name put in Comparison.Key
	numeric   bool     // compared with numbers rather than strings
	intOnly   bool     // numeric and only integer literals are accepted
	ops       []string // the operators allowed on it
}

// language is one of MLflow's search languages: which entity types,
// attributes and operators it accepts.
type language struct {
	entities      map[string]string // entity type as written -> Key* constant
	entityList    string            // entity types listed in error messages
	attrs         map[string]attrSpec
	attrList      string              // attribute names listed in error messages (lode.MsgAttributeKey)
	listAttrs     string              // attributes that accept IN lists, for messages
	ops           map[string][]string // operators of the non-attribute key types
	datasetKeys   map[string]bool
	orderEntities map[string]bool // key types allowed in an order_by clause
}

// runLang is search_runs' language (SearchUtils).
var runLang = newLanguage(language{
	entities: map[string]string{
		"metric": KeyMetric, "metrics": KeyMetric,
		"param": KeyParam, "params": KeyParam, "parameter": KeyParam, "parameters": KeyParam,
		"tag": KeyTag, "tags": KeyTag,
		"attribute": KeyAttribute, "attributes": KeyAttribute, "attr": KeyAttribute, "run": KeyAttribute,
		"dataset": KeyDataset, "datasets": KeyDataset,
	},
	entityList: "['metric', 'parameter', 'tag', 'attribute', 'dataset']",
	attrs: map[string]attrSpec{
		"run_id":       {canonical: "run_id", ops: opsStringList},
		"run_name":     {canonical: "run_name", ops: opsString},
		"run name":     {canonical: "run_name", ops: opsString},
		"Run name":     {canonical: "run_name", ops: opsString},
		"Run Name":     {canonical: "run_name", ops: opsString},
		"status":       {canonical: "status", ops: opsString},
		"user_id":      {canonical: "user_id", ops: opsString},
		"artifact_uri": {canonical: "artifact_uri", ops: opsString},
		"start_time":   {canonical: "start_time", numeric: true, ops: opsNumeric},
		"created":      {canonical: "start_time", numeric: true, ops: opsNumeric},
		"Created":      {canonical: "start_time", numeric: true, ops: opsNumeric},
		"end_time":     {canonical: "end_time", numeric: true, ops: opsNumeric},
	},
	ops: map[string][]string{
		KeyMetric:  opsNumeric,
		KeyParam:   opsNullable,
		KeyTag:     opsNullable,
		KeyDataset: opsStringList,
	},
	datasetKeys:   map[string]bool{"name": true, "digest": true, "context": true},
	orderEntities: map[string]bool{KeyMetric: true, KeyParam: true, KeyTag: true, KeyAttribute: true},
})

// experimentLang is search_experiments' language (SearchExperimentsUtils and
// the SQL store's checks: experiment_id takes = != IN NOT IN, the times take
// integers, and only attributes can be ordered on).
var experimentLang = newLanguage(language{
	entities:   map[string]string{"attribute": KeyAttribute, "tag": KeyTag, "tags": KeyTag},
	entityList: "('attribute', 'tag', 'tags')",
	attrs: map[string]attrSpec{
		"name":             {canonical: "name", ops: opsString},
		"experiment_id":    {canonical: "experiment_id", ops: opsID},
		"creation_time":    {canonical: "creation_time", numeric: true, intOnly: true, ops: opsNumeric},
		"last_update_time": {canonical: "last_update_time", numeric: true, intOnly: true, ops: opsNumeric},
	},
	ops:           map[string][]string{KeyTag: opsNullable},
	orderEntities: map[string]bool{KeyAttribute: true},
})

// loggedModelLang is search_logged_models' language: the attributes of
// SearchLoggedModelsUtils, with the operators of the SQL store's parser
// (mlflow/utils/search_logged_model_utils.py), which lets every string key
// take IN lists and has no IS NULL.
var loggedModelLang = newLanguage(language{
	entities: map[string]string{
		"metric": KeyMetric, "metrics": KeyMetric,
		"param": KeyParam, "params": KeyParam, "parameter": KeyParam, "parameters": KeyParam,
		"tag": KeyTag, "tags": KeyTag,
		"attribute": KeyAttribute, "attributes": KeyAttribute, "attr": KeyAttribute,
	},
	entityList: "['metrics', 'params', 'tags', 'attributes']",
	attrs: map[string]attrSpec{
		"name":                   {canonical: "name", ops: opsStringList},
		"model_id":               {canonical: "model_id", ops: opsStringList},
		"model_type":             {canonical: "model_type", ops: opsStringList},
		"status":                 {canonical: "status", ops: opsStringList},
		"source_run_id":          {canonical: "source_run_id", ops: opsStringList},
		"creation_timestamp":     {canonical: "creation_timestamp", numeric: true, ops: opsNumeric},
		"creation_time":          {canonical: "creation_timestamp", numeric: true, ops: opsNumeric},
		"last_updated_timestamp": {canonical: "last_updated_timestamp", numeric: true, ops: opsNumeric},
		"last_updated_time":      {canonical: "last_updated_timestamp", numeric: true, ops: opsNumeric},
	},
	ops: map[string][]string{
		KeyMetric: opsNumeric,
		KeyParam:  opsStringList,
		KeyTag:    opsStringList,
	},
})

// registeredModelLang is search_registered_models' language
// (SearchModelUtils): the name attribute and tags.
var registeredModelLang = newLanguage(language{
	entities:   map[string]string{"attribute": KeyAttribute, "tag": KeyTag, "tags": KeyTag},
	entityList: "('attribute', 'tag', 'tags')",
	attrs: map[string]attrSpec{
		"name": {canonical: "name", ops: opsStringList},
	},
	ops:           map[string][]string{KeyTag: opsString},
	orderEntities: map[string]bool{KeyAttribute: true},
})

// modelVersionLang is search_model_versions' language
// (SearchModelVersionUtils): name, run_id, source_path, version_number and
// tags.
var modelVersionLang = newLanguage(language{
	entities:   map[string]string{"attribute": KeyAttribute, "tag": KeyTag, "tags": KeyTag},
	entityList: "('attribute', 'tag', 'tags')",
	attrs: map[string]attrSpec{
		"name":           {canonical: "name", ops: opsStringList},
		"run_id":         {canonical: "run_id", ops: opsStringList},
		"source_path":    {canonical: "source_path", ops: opsString},
		"version_number": {canonical: "version_number", numeric: true, intOnly: true, ops: opsNumeric},
		"user_id":        {canonical: "user_id", ops: opsString},
	},
	ops:           map[string][]string{KeyTag: opsString},
	orderEntities: map[string]bool{KeyAttribute: true},
})

// newLanguage fills in the lists error messages show.
func newLanguage(l language) *language {
	var names, lists []string
	for name, spec := range l.attrs {
		names = append(names, name)
		if !spec.numeric && contains(spec.ops, "IN") {
			lists = append(lists, name)
		}
	}
	sort.Strings(names)
	sort.Strings(lists)
	l.attrList = lode.PySet(names...) // MLflow keeps them in a Python set
	l.listAttrs = quoteList(lists)
	return &l
}

// quoteList writes names as a Python list, as MLflow's messages do:
// ['a', 'b'].
func quoteList(names []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + n + "'")
	}
	b.WriteByte(']')
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseRunFilter parses a search_runs filter string. Keys are metrics,
// params, tags, attributes (run_id, run_name, status, user_id, artifact_uri,
// start_time, end_time; "created"/"Created" mean start_time and
// "run name"/"Run name"/"Run Name" mean run_name; a key with no entity type
// is an attribute) and datasets (name, digest, context). Operators:
// metrics and start_time/end_time take = != < <= > >= and a number;
// params and tags take = != LIKE ILIKE and a string, or IS NULL /
// IS NOT NULL; string attributes take = != LIKE ILIKE and a string, and
// run_id also IN / NOT IN and a list; dataset keys take = != LIKE ILIKE
// IN NOT IN. An empty or blank filter gives nil.
func ParseRunFilter(s string) ([]Comparison, error) {
	return parseFilter(runLang, s)
}

// ParseRunOrderBy parses one search_runs order_by clause: an identifier
// (metric, param, tag or attribute, as in ParseRunFilter) optionally
// followed by ASC or DESC, e.g. "metrics.rmse DESC", "start_time",
// "params.`a b` ASC". Asc defaults to true.
func ParseRunOrderBy(s string) (OrderBy, error) {
	return parseOrderBy(runLang, s)
}

// ParseExperimentFilter parses a search_experiments filter string. Keys are
// the attributes name (= != LIKE ILIKE), experiment_id (= != IN NOT IN),
// creation_time and last_update_time (= != < <= > >= with an integer), with
// or without the "attribute." prefix, and tags ("tag." or "tags."; = != LIKE
// ILIKE, IS NULL, IS NOT NULL). An empty or blank filter gives nil.
func ParseExperimentFilter(s string) ([]Comparison, error) {
	return parseFilter(experimentLang, s)
}

// ParseExperimentOrderBy parses one search_experiments order_by clause: one
// of the attributes name, experiment_id, creation_time, last_update_time,
// optionally prefixed with "attribute." and followed by ASC or DESC.
func ParseExperimentOrderBy(s string) (OrderBy, error) {
	return parseOrderBy(experimentLang, s)
}

// ParseLoggedModelFilter parses a search_logged_models filter string. Keys
// are metrics (= != < <= > >= with a number), params and tags (= != LIKE
// ILIKE IN NOT IN with strings) and attributes, with or without a prefix:
// name, model_id, model_type, status, source_run_id (string operators as for
// params) and creation_timestamp (alias creation_time),
// last_updated_timestamp (alias last_updated_time) (numeric operators).
// An empty or blank filter gives nil.
func ParseLoggedModelFilter(s string) ([]Comparison, error) {
	return parseFilter(loggedModelLang, s)
}

// ParseRegisteredModelFilter parses a search_registered_models filter:
// name (= != LIKE ILIKE) and tags.<key> (= != LIKE ILIKE), AND-ed.
func ParseRegisteredModelFilter(s string) ([]Comparison, error) {
	return parseFilter(registeredModelLang, s)
}

// ParseModelVersionFilter parses a search_model_versions filter: name,
// source_path, user_id (= != LIKE ILIKE), run_id (also IN and NOT IN),
// version_number (numeric) and tags.<key>.
func ParseModelVersionFilter(s string) ([]Comparison, error) {
	return parseFilter(modelVersionLang, s)
}

// ParseLoggedModelOrderBy checks one order_by object of a
// search_logged_models request, which MLflow's REST API gives as
// {field_name, ascending, dataset_name, dataset_digest}. field_name is an
// attribute (name, model_id, model_type, status, source_run_id,
// creation_timestamp or creation_time, last_updated_timestamp or
// last_updated_time) or "metrics.<key>", the key taken verbatim. The
// dataset fields only apply to metrics; a digest needs a name.
func ParseLoggedModelOrderBy(fieldName string, ascending bool, datasetName, datasetDigest string) (OrderBy, error) {
	if fieldName == "" {
		return OrderBy{}, invalid("`field_name` in the `order_by` clause must be specified.")
	}
	if datasetDigest != "" && datasetName == "" {
		return OrderBy{}, invalid("`dataset_digest` can only be specified if `dataset_name` is also specified.")
	}
	if entity, key, ok := strings.Cut(fieldName, "."); ok {
		if entity != "metrics" && entity != "metric" {
			return OrderBy{}, invalid("Invalid order by field name: %s, only `metrics.<name>` is allowed.", clip(entity))
		}
		if key == "" {
			return OrderBy{}, invalid("Invalid order by field name: %s.", clip(fieldName))
		}
		return OrderBy{KeyType: KeyMetric, Key: key, Asc: ascending, DatasetName: datasetName, DatasetDigest: datasetDigest}, nil
	}
	spec, ok := loggedModelLang.attrs[strings.TrimSpace(fieldName)]
	if !ok {
		return OrderBy{}, invalid("Invalid order by field name: %s.", clip(fieldName))
	}
	return OrderBy{KeyType: KeyAttribute, Key: spec.canonical, Asc: ascending}, nil
}

func invalid(format string, args ...any) error {
	return lode.Errorf(lode.EInvalid, format, args...)
}

// parseFilter parses filter string s in language l.
func parseFilter(l *language, s string) ([]Comparison, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if !utf8.ValidString(s) {
		return nil, invalid("Invalid filter string: not valid UTF-8.")
	}
	p := &parser{l: l, s: s}
	var out []Comparison
	for {
		p.skipSpace()
		if start := p.pos; p.and() {
			p.pos = start
			return nil, invalid("Invalid clause(s) in filter string: 'AND' with no comparison before it")
		}
		c, err := p.comparison()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		p.skipSpace()
		if p.eof() {
			return out, nil
		}
		if !p.and() {
			return nil, invalid("Invalid clause(s) in filter string: '%s'", clip(p.span()))
		}
		p.skipSpace()
		if p.eof() {
			return nil, invalid("Invalid filter '%s': expected a comparison after 'AND'.", clip(s))
		}
	}
}

// and consumes the keyword AND, reporting whether it was there.
func (p *parser) and() bool {
	start := p.pos
	if strings.EqualFold(p.word(), "AND") {
		return true
	}
	p.pos = start
	return false
}

// parseOrderBy parses order_by clause s in language l.
func parseOrderBy(l *language, s string) (OrderBy, error) {
	if !utf8.ValidString(s) {
		return OrderBy{}, invalid("Invalid order_by clause: not valid UTF-8.")
	}
	p := &parser{l: l, s: strings.TrimSpace(s)}
	if p.eof() {
		return OrderBy{}, invalid("Invalid order_by clause '%s'. Could not be parsed.", clip(s))
	}
	id, err := p.identifier()
	if err != nil {
		return OrderBy{}, invalid("Invalid order_by clause '%s'. Could not be parsed.", clip(s))
	}
	asc := true
	if p.skipSpace(); !p.eof() {
		switch w := p.word(); {
		case strings.EqualFold(w, "ASC"):
		case strings.EqualFold(w, "DESC"):
			asc = false
		case w != "":
			return OrderBy{}, invalid("Invalid ordering key in order_by clause '%s'.", clip(s))
		default:
			return OrderBy{}, invalid("Invalid order_by clause '%s'. Could not be parsed.", clip(s))
		}
		if p.skipSpace(); !p.eof() {
			return OrderBy{}, invalid("Invalid order_by clause '%s'. Could not be parsed.", clip(s))
		}
	}
	keyType, key, _, err := l.resolve(id)
	if err != nil {
		return OrderBy{}, err
	}
	if !l.orderEntities[keyType] {
		return OrderBy{}, invalid("Invalid order_by entity type '%s' in order_by clause '%s'.", keyType, clip(s))
	}
	return OrderBy{KeyType: keyType, Key: key, Asc: asc}, nil
}

// ident is a scanned identifier: its raw text and its dot-separated parts.
type ident struct {
	raw   string
	parts []identPart
}

// identPart is one dot-separated part of an identifier.
type identPart struct {
	raw   string // as written
	inner string // the text inside the quotes when the part is one quoted segment
	quote byte   // that segment's quote character, 0 when the part is not one
}

// text is the part's value: unquoted when it is one quoted segment.
func (ip identPart) text() string {
	if ip.quote != 0 {
		return ip.inner
	}
	return ip.raw
}

// resolve maps an identifier to its key type and normalised key, checking
// them against the language. spec is set for attributes.
func (l *language) resolve(id ident) (keyType, key string, spec attrSpec, err error) {
	if len(id.parts) == 1 {
		keyType, key = KeyAttribute, id.parts[0].text()
	} else {
		entity := id.parts[0].raw
		if id.parts[0].quote == '`' {
			entity = id.parts[0].inner
		}
		var ok bool
		if keyType, ok = l.entities[entity]; !ok {
			// MLflow's experiment and registry searches list their
			// entity types as a tuple, in other words than runs'.
			msg := lode.MsgEntityType
			if strings.HasPrefix(l.entityList, "(") {
				msg = lode.MsgEntityTypeOf
			}
			return "", "", spec, lode.Invalid(msg, clip(entity), l.entityList)
		}
		rest := id.parts[1:]
		if len(rest) == 1 {
			key = rest[0].text()
		} else {
			raws := make([]string, len(rest))
			for i, r := range rest {
				raws[i] = r.raw
			}
			key = strings.Join(raws, ".")
		}
	}
	if key == "" {
		return "", "", spec, invalid("Invalid identifier '%s'. Columns should be specified as 'attribute.<key>', 'metric.<key>', 'tag.<key>', 'dataset.<key>', or 'param.<key>'.", clip(id.raw))
	}
	switch keyType {
	case KeyAttribute:
		var ok bool
		if spec, ok = l.attrs[key]; !ok {
			return "", "", spec, lode.Invalid(lode.MsgAttributeKey, clip(key), l.attrList)
		}
		key = spec.canonical
	case KeyDataset:
		if !l.datasetKeys[key] {
			return "", "", spec, invalid("Invalid dataset key '%s' specified. Valid keys are '%s'", clip(key), quoteList(sortedKeys(l.datasetKeys)))
		}
	}
	return keyType, key, spec, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parser is a cursor over a filter or order_by string.
type parser struct {
	l   *language
	s   string
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

// peek returns the rune at the cursor and its width.
func (p *parser) peek() (rune, int) {
	if p.eof() {
		return 0, 0
	}
	return utf8.DecodeRuneInString(p.s[p.pos:])
}

func (p *parser) skipSpace() {
	for !p.eof() {
		r, w := p.peek()
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += w
	}
}

// isWord reports whether r is a word character, as Python's \w.
func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// word consumes a run of word characters.
func (p *parser) word() string {
	start := p.pos
	for !p.eof() {
		r, w := p.peek()
		if !isWord(r) {
			break
		}
		p.pos += w
	}
	return p.s[start:p.pos]
}

// token returns, without consuming it, the token at the cursor, for error
// messages: a word, a quoted string, a run of operator characters or one
// character.
func (p *parser) token() string {
	if p.eof() {
		return ""
	}
	start := p.pos
	defer func() { p.pos = start }()
	r, w := p.peek()
	switch {
	case isWord(r):
		return p.word()
	case r == '\'' || r == '"' || r == '`':
		if _, ok := p.quoted(); !ok {
			return p.s[start:]
		}
	case strings.ContainsRune("<>=!", r):
		p.operatorSymbols()
	default:
		p.pos += w
	}
	return p.s[start:p.pos]
}

// clip shortens s for an error message.
func clip(s string) string {
	const limit = 100
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// quoted consumes a quoted segment whose quote character is at the cursor
// and returns the text between the quotes, verbatim. As in sqlparse, a
// doubled quote does not end the segment, nor (except in backquotes) does a
// quote preceded by a backslash, unless that leaves the segment unterminated.
// ok is false, and the cursor unmoved, when the segment is unterminated.
func (p *parser) quoted() (string, bool) {
	q := p.s[p.pos]
	for _, backslash := range []bool{q != '`', false} {
		for i := p.pos + 1; i < len(p.s); i++ {
			switch c := p.s[i]; {
			case c == q && i+1 < len(p.s) && p.s[i+1] == q:
				i++
			case c == q:
				inner := p.s[p.pos+1 : i]
				p.pos = i + 1
				return inner, true
			case c == '\\' && backslash && i+1 < len(p.s):
				i++
			}
		}
		if q == '`' {
			break
		}
	}
	return "", false
}

// identifier consumes an identifier: dot-separated parts, each a run of word
// characters and quoted segments, with no whitespace.
func (p *parser) identifier() (ident, error) {
	start := p.pos
	var id ident
	for {
		partStart := p.pos
		pieces := 0
		var part identPart
	scan:
		for !p.eof() {
			r, _ := p.peek()
			switch {
			case r == '\'' && p.pos == start:
				// A leading single quote makes a string, not an identifier.
				return ident{}, p.badIdentifier(start)
			case r == '\'' || r == '"' || r == '`':
				segStart := p.pos
				inner, ok := p.quoted()
				if !ok {
					return ident{}, unterminated(p.s[segStart:])
				}
				part.inner, part.quote = inner, byte(r)
			case isWord(r):
				p.word()
				part.quote = 0
			default:
				break scan
			}
			pieces++
		}
		if p.pos == partStart {
			// An empty part: nothing, or a leading, trailing or doubled dot.
			return ident{}, p.badIdentifier(start)
		}
		part.raw = p.s[partStart:p.pos]
		if pieces != 1 {
			part.quote, part.inner = 0, ""
		}
		id.parts = append(id.parts, part)
		if p.eof() || p.s[p.pos] != '.' {
			break
		}
		p.pos++
	}
	id.raw = p.s[start:p.pos]
	return id, nil
}

func unterminated(rest string) error {
	return invalid("Invalid clause(s) in filter string: unterminated quote in '%s'", clip(rest))
}

func (p *parser) badIdentifier(start int) error {
	p.pos = start
	if p.eof() {
		return invalid("Invalid comparison clause. Expected 'Identifier' found end of string")
	}
	return invalid("Invalid comparison clause. Expected 'Identifier' found '%s'", clip(p.span()))
}

// span returns, without consuming it, the text from the cursor to the next
// whitespace, for error messages.
func (p *parser) span() string {
	i := p.pos
	for i < len(p.s) {
		r, w := utf8.DecodeRuneInString(p.s[i:])
		if unicode.IsSpace(r) {
			break
		}
		i += w
	}
	return p.s[p.pos:i]
}

// operatorSymbols consumes a run of the characters of symbolic operators.
func (p *parser) operatorSymbols() string {
	start := p.pos
	for !p.eof() && strings.IndexByte("<>=!", p.s[p.pos]) >= 0 {
		p.pos++
	}
	return p.s[start:p.pos]
}

// operator consumes a comparison operator and returns it normalised (upper
// case, single spaces); "" if there is none at the cursor.
func (p *parser) operator() string {
	start := p.pos
	if op := p.operatorSymbols(); op != "" {
		return op
	}
	first := strings.ToUpper(p.word())
	op := first
	switch first {
	case "NOT", "IS":
		p.skipSpace()
		next := strings.ToUpper(p.word())
		op += " " + next
		if first == "IS" && next == "NOT" {
			p.skipSpace()
			op += " " + strings.ToUpper(p.word())
		}
	}
	if !opsKnown[op] {
		p.pos = start
		return ""
	}
	return op
}

// comparison parses one comparison.
func (p *parser) comparison() (Comparison, error) {
	id, err := p.identifier()
	if err != nil {
		return Comparison{}, err
	}
	keyType, key, spec, err := p.l.resolve(id)
	if err != nil {
		return Comparison{}, err
	}
	p.skipSpace()
	op := p.operator()
	if op == "" {
		if p.eof() {
			return Comparison{}, invalid("Invalid comparison clause '%s'. Expected comparison found end of string", clip(id.raw))
		}
		return Comparison{}, invalid("Invalid comparison clause. Expected comparison found '%s'", clip(p.token()))
	}
	c := Comparison{KeyType: keyType, Key: key, Op: op}

	allowed := p.l.ops[keyType]
	if keyType == KeyAttribute {
		allowed = spec.ops
	}
	if !contains(allowed, op) {
		switch {
		case op == "IS NULL" || op == "IS NOT NULL":
			if n := p.l.nullable(); n != "" {
				return Comparison{}, invalid("IS NULL / IS NOT NULL is only supported for %s, not for %s '%s'", n, keyType, clip(key))
			}
			return Comparison{}, invalid("IS NULL / IS NOT NULL is not supported in this filter, found on %s '%s'", keyType, clip(key))
		case (op == "IN" || op == "NOT IN") && keyType == KeyAttribute && !spec.numeric:
			return Comparison{}, invalid("Only %s attributes support comparison with a list of quoted string values.", p.l.listAttrs)
		}
		return Comparison{}, invalid("Invalid comparator '%s' not one of %s for %s '%s'", op, quoteList(allowed), keyType, clip(key))
	}

	switch op {
	case "IS NULL", "IS NOT NULL":
		return c, nil
	case "IN", "NOT IN":
		p.skipSpace()
		if c.Value, err = p.list(); err != nil {
			return Comparison{}, err
		}
		return c, nil
	}

	p.skipSpace()
	numeric := keyType == KeyMetric || (keyType == KeyAttribute && spec.numeric)
	v, quoted, err := p.value()
	if err != nil {
		return Comparison{}, err
	}
	if numeric {
		if quoted != 0 || !isNumber(v) {
			if keyType == KeyMetric {
				return Comparison{}, invalid("Expected numeric value type for metric. Found %s", clip(literal(v, quoted)))
			}
			return Comparison{}, invalid("Expected numeric value type for numeric attribute: %s. Found %s", key, clip(literal(v, quoted)))
		}
		f, err := parseNumber(v, spec.intOnly)
		if err != nil {
			return Comparison{}, invalid("Invalid value for numeric attribute '%s': '%s'", key, clip(v))
		}
		c.Value = f
		return c, nil
	}
	switch {
	case quoted == '\'' || quoted == '"':
		c.Value = v
	case quoted == 0 && isNumber(v):
		return Comparison{}, invalid("Expected a quoted string value for %s (e.g. 'my-value'). Got value %s", keyType, clip(v))
	default:
		return Comparison{}, invalid("Parameter value is either not quoted or unidentified quote types used for string value %s. Use either single or double quotes.", clip(literal(v, quoted)))
	}
	return c, nil
}

// nullable lists the key types that take IS NULL, for messages; "" if none.
func (l *language) nullable() string {
	var names []string
	for _, kt := range []string{KeyTag, KeyParam} {
		if contains(l.ops[kt], "IS NULL") {
			names = append(names, kt+"s")
		}
	}
	return strings.Join(names, " and ")
}

// literal writes a scanned value back as it was written.
func literal(v string, quote byte) string {
	if quote == 0 {
		return v
	}
	return string(quote) + v + string(quote)
}

// value consumes a scalar value: a quoted string (its text and quote
// character), or an unquoted run of characters that may form a number
// (quote 0).
func (p *parser) value() (v string, quote byte, err error) {
	if p.eof() {
		return "", 0, invalid("Invalid comparison clause. Expected value token found end of string")
	}
	switch c := p.s[p.pos]; c {
	case '\'', '"', '`':
		start := p.pos
		s, ok := p.quoted()
		if !ok {
			return "", 0, unterminated(p.s[start:])
		}
		return s, c, nil
	}
	start := p.pos
	for !p.eof() {
		r, w := p.peek()
		if !isWord(r) && r != '.' && r != '-' && r != '+' {
			break
		}
		p.pos += w
	}
	if p.pos == start {
		return "", 0, invalid("Invalid comparison clause. Expected value token found '%s'", clip(p.token()))
	}
	return p.s[start:p.pos], 0, nil
}

// list consumes a parenthesised, comma-separated list of quoted strings; a
// trailing comma is allowed, an empty list is not. MLflow reads the list
// with Python's ast.literal_eval, so its items are Python string literals:
// see pyString.
func (p *parser) list() ([]string, error) {
	illFormed := invalid("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
	if p.eof() || p.s[p.pos] != '(' {
		if p.eof() {
			return nil, invalid("Invalid comparison clause. Expected a list of quoted strings found end of string")
		}
		return nil, invalid("Invalid clause(s) in filter string: expected a parenthesised list of quoted strings, found '%s'", clip(p.token()))
	}
	start := p.pos
	p.pos++
	var out []string
	for {
		p.skipSpace()
		if p.eof() {
			return nil, illFormed
		}
		if c := p.s[p.pos]; c == ')' {
			if len(out) == 0 {
				return nil, invalid("While parsing a list in the query, expected a non-empty list of string values, but got empty list")
			}
			p.pos++
			return out, nil
		}
		if c := p.s[p.pos]; c != '\'' && c != '"' {
			if c == ',' || c == '(' {
				return nil, illFormed
			}
			end := strings.IndexByte(p.s[start:], ')')
			if end < 0 {
				return nil, illFormed
			}
			return nil, invalid("While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: %s", clip(p.s[start:start+end+1]))
		}
		// Adjacent literals concatenate, as in Python: ('it''s') is "its".
		var item strings.Builder
		for !p.eof() && (p.s[p.pos] == '\'' || p.s[p.pos] == '"') {
			lit, ok := p.pyString()
			if !ok {
				return nil, illFormed
			}
			item.WriteString(lit)
			p.skipSpace()
		}
		out = append(out, item.String())
		if p.eof() {
			return nil, illFormed
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ')':
		default:
			return nil, illFormed
		}
	}
}

// pyString consumes a Python string literal ('...' or "...") at the cursor
// and returns its value. The escapes \\ \' \" \n \r \t \a \b \f \v and a
// backslash-newline are decoded as Python decodes them; other backslashes
// (\x, \u, \N, octal) are kept verbatim. An unescaped newline or a missing
// closing quote makes it ill-formed (ok false).
func (p *parser) pyString() (string, bool) {
	q := p.s[p.pos]
	var b strings.Builder
	for i := p.pos + 1; i < len(p.s); i++ {
		c := p.s[i]
		switch {
		case c == q:
			p.pos = i + 1
			return b.String(), true
		case c == '\n' || c == '\r':
			return "", false
		case c == '\\' && i+1 < len(p.s):
			i++
			switch e := p.s[i]; e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case '\n':
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// isNumber reports whether s is a numeric literal:
// -?(digits(.digits?)?|.digits)([eE][+-]?digits)?
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	mantissa := digits()
	if i < len(s) && s[i] == '.' {
		i++
		mantissa += digits()
	}
	if mantissa == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseNumber converts a literal isNumber accepted. With intOnly it must be
// an integer literal that fits an int64. Out-of-range floats become ±Inf.
func parseNumber(s string, intOnly bool) (float64, error) {
	if intOnly {
		n, err := strconv.ParseInt(s, 10, 64)
		return float64(n), err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return 0, err
	}
	return f, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
