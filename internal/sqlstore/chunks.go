package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/lode-ml/lode"
	"github.com/lode-ml/lode/tracking"
)

// pointSize is the encoded size of one metric point in a chunk.
const pointSize = 24

type chunkKey struct {
	key, modelID, datasetName, datasetDigest string
}

type chunk struct {
	min, max int64
	data     []byte
}

// appendChunks writes metrics as one chunk per (key, links) group.
func appendChunks(ctx context.Context, tx *conn, rid int64, metrics []tracking.Metric) error {
	groups := make(map[chunkKey]*chunk)
	var order []chunkKey
	for _, m := range metrics {
		k := chunkKey{m.Key, m.ModelID, m.DatasetName, m.DatasetDigest}
		c, ok := groups[k]
		if !ok {
			c = &chunk{min: m.Step, max: m.Step}
			groups[k] = c
			order = append(order, k)
		}
		c.min, c.max = min(c.min, m.Step), max(c.max, m.Step)
		c.data = binary.LittleEndian.AppendUint64(c.data, uint64(m.Step))
		c.data = binary.LittleEndian.AppendUint64(c.data, uint64(m.Timestamp))
		c.data = binary.LittleEndian.AppendUint64(c.data, math.Float64bits(m.Value))
	}
	n := len(order)
	keys, models, dsNames, dsDigests := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	mins, maxs, counts, data := make([]int64, n), make([]int64, n), make([]int32, n), make([][]byte, n)
	for i, k := range order {
		c := groups[k]
		keys[i], models[i], dsNames[i], dsDigests[i] = k.key, k.modelID, k.datasetName, k.datasetDigest
		mins[i], maxs[i], counts[i], data[i] = c.min, c.max, int32(len(c.data)/pointSize), c.data
	}
	// One statement for every chunk of the batch (or as few as the
	// dialect's bound on arguments allows).
	return tx.bulk(ctx, `INSERT INTO metric_chunks (rid, key, model_id, dataset_name, dataset_digest, min_step, max_step, n, data)`, ``, false,
		[]any{rid}, col("text", keys), col("text", models), col("text", dsNames), col("text", dsDigests),
		col("int8", mins), col("int8", maxs), col("int4", counts), col("bytea", data))
}

// point is one metric value as read from its chunk: link indexes the
// chunk's model and dataset in a historyPage's links, ord is the order in
// which it was read, so that of equal points the first logged is kept.
type point struct {
	ts, step int64
	value    float64
	ord      int64
	link     int32
}

// pointLinks are the model and dataset a chunk's points are linked to.
type pointLinks struct {
	modelID, datasetName, datasetDigest string
}

// historyPage is what readHistory selected: points in order, exact
// duplicates collapsed, and the links they index.
type historyPage struct {
	points []point
	links  []pointLinks
}

// metric returns p as a tracking.Metric of key.
func (h *historyPage) metric(key string, p point) tracking.Metric {
	l := h.links[p.link]
	return tracking.Metric{Key: key, Value: p.value, Timestamp: p.ts, Step: p.step,
		ModelID: l.modelID, DatasetName: l.datasetName, DatasetDigest: l.datasetDigest}
}

// historyOrder orders points by (timestamp, step, value) when byTime, else
// by (step, timestamp, value); NaN after every number.
type historyOrder bool

func (byTime historyOrder) cmp(a, b *point) int {
	x1, y1, x2, y2 := a.ts, a.step, b.ts, b.step
	if !byTime {
		x1, y1, x2, y2 = a.step, a.ts, b.step, b.ts
	}
	switch {
	case x1 != x2:
		return cmpInt(x1, x2)
	case y1 != y2:
		return cmpInt(y1, y2)
	}
	return cmpFloat(a.value, b.value)
}

// compact sorts pts, collapses exact duplicates (keeping the first read,
// as MLflow's SQL store keeps one row for such repeats) and keeps at most
// limit of them (0: all).
func (byTime historyOrder) compact(pts []point, limit int) []point {
	slices.SortFunc(pts, func(a, b point) int {
		if c := byTime.cmp(&a, &b); c != 0 {
			return c
		}
		return cmpInt(a.ord, b.ord)
	})
	kept := pts[:0]
	for i := range pts {
		if len(kept) > 0 && byTime.cmp(&kept[len(kept)-1], &pts[i]) == 0 {
			continue
		}
		kept = append(kept, pts[i])
	}
	if limit > 0 && len(kept) > limit {
		kept = kept[:limit]
	}
	return kept
}

// readHistory selects points of one metric of one run: those with a step
// in [lo, hi] that come after `after` (nil: from the first) in the order
// byTime gives, at most limit of them (0: all). The history is stored in
// chunks in the order it was logged, not sorted, so every call reads all
// of its chunks; with a limit it holds at most 2*limit points at a time,
// so that a page of a long history costs memory in its page's size.
func readHistory(ctx context.Context, q *conn, rid int64, key string, lo, hi int64, byTime historyOrder, after *point, limit int) (*historyPage, error) {
	rows, err := q.Query(ctx, `SELECT model_id, dataset_name, dataset_digest, data FROM metric_chunks
		WHERE rid = ? AND key = ? AND max_step >= ? AND min_step <= ? ORDER BY seq`, rid, key, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	h := &historyPage{}
	linkIndex := map[pointLinks]int32{}
	var (
		buf   []point
		bound *point // once the buffer was cut to limit: nothing at or after it can be kept
		ord   int64
		data  []byte
	)
	for rows.Next() {
		var l pointLinks
		if err := rows.Scan(&l.modelID, &l.datasetName, &l.datasetDigest, &data); err != nil {
			return nil, err
		}
		if len(data)%pointSize != 0 {
			return nil, fmt.Errorf("metric chunk of %d bytes is corrupt", len(data))
		}
		link, ok := linkIndex[l]
		if !ok {
			link = int32(len(h.links))
			linkIndex[l] = link
			h.links = append(h.links, l)
		}
		for off := 0; off < len(data); off += pointSize {
			p := point{
				step:  int64(binary.LittleEndian.Uint64(data[off:])),
				ts:    int64(binary.LittleEndian.Uint64(data[off+8:])),
				value: math.Float64frombits(binary.LittleEndian.Uint64(data[off+16:])),
				ord:   ord, link: link,
			}
			ord++
			if p.step < lo || p.step > hi ||
				(after != nil && byTime.cmp(&p, after) <= 0) ||
				(bound != nil && byTime.cmp(&p, bound) >= 0) {
				continue
			}
			buf = append(buf, p)
			if limit > 0 && len(buf) >= 2*limit {
				buf = byTime.compact(buf, limit)
				if len(buf) == limit {
					last := buf[limit-1]
					bound = &last
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	h.points = byTime.compact(buf, limit)
	return h, nil
}

// historyToken is the page token of the metric-history page that ends
// with p: its order key, the value as its bits so that it reads back
// exactly.
func historyToken(p point) string {
	bits := math.Float64bits(p.value)
	b, _ := json.Marshal(historyCursor{Timestamp: p.ts, Step: p.step, ValueBits: &bits})
	return base64.StdEncoding.EncodeToString(b)
}

type historyCursor struct {
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
	ValueBits *uint64 `json:"value_bits"`
}

func parseHistoryToken(tok string) (*point, error) {
	if tok == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(tok); err != nil {
			return nil, lode.Errorf(lode.EInvalid, "Invalid page token, could not base64-decode")
		}
	}
	var c historyCursor
	if err := json.Unmarshal(raw, &c); err != nil || c.ValueBits == nil {
		return nil, lode.Errorf(lode.EInvalid, "Invalid page token for a metric history")
	}
	return &point{ts: c.Timestamp, step: c.Step, value: math.Float64frombits(*c.ValueBits)}, nil
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// cmpFloat orders NaN after every number.
func cmpFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
