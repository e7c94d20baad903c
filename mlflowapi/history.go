package mlflowapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/lode-ml/lode/tracking"
)

// getMetricHistory answers metrics/get-history as MLflow does: without
// max_results every value (MLflow 3 documents that path as unpaginated,
// and MLflow 2 ignores max_results altogether, so clients that never page
// exist), else at most max_results of them and a next_page_token. Either
// answer is read from the store in pages of tracking.MetricHistoryPageSize
// and written out as it is read, so that the server's memory for one
// request stays in the size of one page however long the history is.
func (s *Server) getMetricHistory(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		runRef
		MetricKey  string `json:"metric_key"`
		PageToken  string `json:"page_token"`
		MaxResults jint   `json:"max_results"`
	}
	if err := s.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := positive("max_results", req.MaxResults); err != nil {
		return nil, err
	}
	h := &historyStream{t: s.Tracking, ctx: ctx, left: -1,
		q: tracking.MetricHistoryQuery{RunID: id, Key: req.MetricKey, PageToken: req.PageToken}}
	if req.MaxResults.Set {
		h.left = req.MaxResults.V
	}
	// The first page is read before anything is written, so that a bad
	// request or an unknown token still gets its error status.
	if err := h.read(); err != nil {
		return nil, err
	}
	return h, nil
}

// historyStream is a get-history answer being read and written page by
// page.
type historyStream struct {
	t    *tracking.Service
	ctx  context.Context
	q    tracking.MetricHistoryQuery // the next page to read
	left int64                       // values still wanted; -1: all

	page []tracking.Metric
	next string
}

// read reads the page h.q names, of at most h.left values.
func (h *historyStream) read() error {
	h.q.MaxResults = tracking.MetricHistoryPageSize
	if h.left >= 0 && h.left < int64(h.q.MaxResults) {
		h.q.MaxResults = int(h.left)
	}
	var err error
	h.page, h.next, err = h.t.GetMetricHistory(h.ctx, h.q)
	return err
}

// stream writes the answer: {"metrics": [...], "next_page_token": ...},
// the fields left out when empty, as json.Marshal of the message would.
func (h *historyStream) stream(w *bufio.Writer) error {
	key, _ := json.Marshal(h.q.Key)
	var (
		b     []byte
		wrote bool
		links [3]string
		enc   []byte // links as JSON fields, for the last links seen
		seen  bool
	)
	w.WriteByte('{')
	for {
		for _, m := range h.page {
			if !wrote {
				w.WriteString(`"metrics":[`)
				wrote = true
			} else {
				w.WriteByte(',')
			}
			if l := [3]string{m.ModelID, m.DatasetName, m.DatasetDigest}; l != links || !seen {
				links, enc, seen = l, appendMetricLinks(enc[:0], l), true
			}
			b = append(b[:0], `{"key":`...)
			b = append(b, key...)
			b = append(b, `,"value":`...)
			b = wfloat(m.Value).appendJSON(b)
			b = append(b, `,"timestamp":`...)
			b = strconv.AppendInt(b, m.Timestamp, 10)
			b = append(b, `,"step":`...)
			b = strconv.AppendInt(b, m.Step, 10)
			b = append(b, enc...)
			b = append(b, '}')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if h.left >= 0 {
			h.left -= int64(len(h.page))
		}
		if h.next == "" || h.left == 0 {
			break
		}
		h.q.PageToken, h.page = h.next, nil
		if err := h.read(); err != nil {
			return err
		}
	}
	if wrote {
		w.WriteByte(']')
	}
	if h.next != "" {
		if wrote {
			w.WriteByte(',')
		}
		tok, _ := json.Marshal(h.next)
		w.WriteString(`"next_page_token":`)
		w.Write(tok)
	}
	w.WriteByte('}')
	return w.Flush()
}

// appendMetricLinks appends a metric's model and dataset fields as
// wMetric's JSON has them: each left out when empty.
func appendMetricLinks(b []byte, l [3]string) []byte {
	for i, name := range [3]string{"model_id", "dataset_name", "dataset_digest"} {
		if l[i] == "" {
			continue
		}
		v, _ := json.Marshal(l[i])
		b = append(b, `,"`+name+`":`...)
		b = append(b, v...)
	}
	return b
}
