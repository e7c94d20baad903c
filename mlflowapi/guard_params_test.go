package mlflowapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// paramBodies are request bodies the guard must read as the handlers'
// decode does: nested and escaped names, escaped quotes, numbers, null,
// double-encoded bodies, and every way of naming a field twice.
var paramBodies = []string{
	`{"run_id": "r1", "metrics": [{"key": "m", "value": 1.5, "timestamp": 1, "step": 0}]}`,
	`{"metrics": [{"run_id": "nested", "key": "run_id"}], "run_id": "r1"}`,
	`{"tags": {"run_id": "nested"}, "run_id": "r1", "username": "u"}`,
	`{"run_id": "a\"b\\", "x": "\\\"", "username": "\u0075"}`,
	`{"run_id": 42, "username": -1.5e3}`,
	`{"run_id": null, "username": "u"}`,
	`  {  "run_id"  :  "r1"  ,  "x" : [ 1 , { "y" : [ ] } , "]" ] , "z" : true }  `,
	`"{\"run_id\": \"inner\", \"username\": \"u\"}"`,
	`{}`,
	`{"run_id": "r1", "RUN_ID": "r2"}`,
	`{"run_id": "r1", "run_id": "r2"}`,
	`{"run_id": "r1", "run\u005fid": "r2"}`,
	`{"run_id": "r1", "metrics": [], "Run_Id": "r2"}`,
	`{"username": "me", "u\u017Fername": "admin"}`,
	`{"username": "me", "uſername": "admin"}`,
	`{"run_id": "r1", "run_id": null}`,
	`{"run_id": "r1", "run_id": {"a": 1}}`,
	`{"run_id": "r1", "metrics": [{"key": "a\\", "value": 1}], "run_id": "r2"}`,
}

// checkParams checks jsonFields against encoding/json on one body: for a
// body the handlers would decode, it finds what they find, and refuses
// exactly the bodies that name a field twice.
func checkParams(t *testing.T, body []byte) {
	names := []string{"run_id", "username"}
	out := map[string]string{}
	err := jsonFields(body, names, out)

	text := body
	var inner string
	if json.Unmarshal(body, &inner) == nil {
		text = []byte(inner) // as decode's second try
	}
	if !json.Valid(text) || checkJSONText(text) != nil || !bytes.HasPrefix(bytes.TrimLeft(text, " \t\r\n"), []byte("{")) {
		return // the handler refuses it before acting
	}
	counts := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.Token() // {
	for dec.More() {
		tok, _ := dec.Token()
		for _, n := range names {
			if bytes.EqualFold([]byte(tok.(string)), []byte(n)) {
				counts[n]++
			}
		}
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	dup := counts["run_id"] > 1 || counts["username"] > 1
	if dup != (err != nil) {
		t.Fatalf("%s: jsonFields error %v, encoding/json sees the names %v times", body, err, counts)
	}
	if dup {
		return
	}
	var want struct {
		RunID    jstr `json:"run_id"`
		Username jstr `json:"username"`
	}
	if json.Unmarshal(text, &want) != nil {
		return // a type the handler refuses
	}
	if out["run_id"] != string(want.RunID) || out["username"] != string(want.Username) {
		t.Fatalf("%s: jsonFields found %q, encoding/json decodes run_id=%q username=%q", body, out, want.RunID, want.Username)
	}
}

func TestJSONFieldsAgreesWithDecode(t *testing.T) {
	for _, b := range paramBodies {
		checkParams(t, []byte(b))
	}
	for _, b := range paramBodies[9:] {
		if err := jsonFields([]byte(b), []string{"run_id", "username"}, map[string]string{}); err == nil || !strings.Contains(err.Error(), "Duplicate parameter") {
			t.Errorf("%s: got %v, want a duplicate parameter refused", b, err)
		}
	}
}

func FuzzJSONFields(f *testing.F) {
	for _, b := range paramBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(checkParams)
}
