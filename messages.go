package lode

// Msg names one of the validation messages of MLflow's server that
// clients and scripts match on. Lode sends the same text, with the same
// code (INVALID_PARAMETER_VALUE) and so the same status (400);
// tests/python/test_error_texts.py sends each case to Lode and to a real
// mlflow server and compares the answers.
type Msg int

const (
	// MsgMissing: a required field is absent or empty. Args: field.
	MsgMissing Msg = iota
	// MsgWrongType: a field holds a JSON value of the wrong type, or one
	// MLflow's request schema refuses (max_results over a search's
	// limit). Args: the value as Python's json.dumps writes it (PyJSON),
	// field, the value's Python type name (PyType).
	MsgWrongType
	// MsgNotPositive: max_results below 1. Args: value, field.
	MsgNotPositive
	// MsgAtMost: a number over its limit. Args: value, field, limit.
	MsgAtMost
	// MsgInvalidPath: an artifact path that is absolute or leaves its
	// root. MLflow names neither the path nor the reason.
	MsgInvalidPath
	// MsgNotInteger: a field that must hold an integer (a model version).
	// Args: field, value.
	MsgNotInteger
	// MsgBetween: a number outside a range, in MLflow's request schema.
	// Args: field, low, high.
	MsgBetween
	// MsgVersionAlias: an alias of the form v<number>, which names a
	// version. Args: alias.
	MsgVersionAlias
	// MsgOrderByKey: an order_by key a registered model search does not
	// know. Args: key, the valid keys (PySet).
	MsgOrderByKey
	// MsgAttributeKey: an attribute a search does not know. Args: key,
	// the valid keys (PySet).
	MsgAttributeKey
	// MsgEntityType: an entity type (metric, tag...) a run or logged
	// model search does not know. Args: type, the valid ones.
	MsgEntityType
	// MsgEntityTypeOf: the same for experiments and registry searches,
	// in MLflow's other words. Args: type, the valid ones.
	MsgEntityTypeOf
)

// seeDocs ends the messages of MLflow's request schema validation.
const seeDocs = " See the API docs for more information about request parameters."

// msgTemplates is the table: one text per kind, as MLflow writes it.
var msgTemplates = [...]string{
	MsgMissing:      "Missing value for required parameter '%s'." + seeDocs,
	MsgWrongType:    "Invalid value %s for parameter '%s' supplied:  Hint: Value was of type '%s'." + seeDocs,
	MsgNotPositive:  "Invalid value %d for parameter '%s' supplied. It must be a positive integer",
	MsgAtMost:       "Invalid value %d for parameter '%s' supplied. It must be at most %d",
	MsgInvalidPath:  "Invalid path",
	MsgNotInteger:   "Parameter '%s' must be an integer, got '%s'.",
	MsgBetween:      "%s must be between %d and %d." + seeDocs,
	MsgVersionAlias: "Version alias name '%s' is reserved.",
	MsgOrderByKey:   "Invalid order by key '%s' specified. Valid keys are '%s'",
	MsgAttributeKey: "Invalid attribute key '%s' specified. Valid keys are '%s'",
	MsgEntityType:   "Invalid entity type '%s'. Valid values are %s",
	MsgEntityTypeOf: "Invalid entity type '%s'. Valid entity types are %s",
}

// Invalid returns MLflow's INVALID_PARAMETER_VALUE error of kind m.
func Invalid(m Msg, args ...any) *Error {
	return Errorf(EInvalid, msgTemplates[m], args...)
}

// PySet writes names as Python prints a set of strings, which is how
// MLflow lists valid keys: {'a', 'b'}. Python's order varies from run to
// run; Lode keeps the order given.
func PySet(names ...string) string {
	b := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '\'')
		b = append(b, n...)
		b = append(b, '\'')
	}
	return string(append(b, '}'))
}
