package sqlstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"

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

// readHistory returns every point of one metric of one run with a step in
// [lo, hi], ordered by (timestamp, step, value) when byTime, else by
// (step, timestamp, value), exact duplicates collapsed.
func readHistory(ctx context.Context, q *conn, rid int64, key string, lo, hi int64, byTime bool) ([]tracking.Metric, error) {
	rows, err := q.Query(ctx, `SELECT model_id, dataset_name, dataset_digest, data FROM metric_chunks
		WHERE rid = ? AND key = ? AND max_step >= ? AND min_step <= ? ORDER BY seq`, rid, key, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tracking.Metric
	for rows.Next() {
		var modelID, dsName, dsDigest string
		var data []byte
		if err := rows.Scan(&modelID, &dsName, &dsDigest, &data); err != nil {
			return nil, err
		}
		if len(data)%pointSize != 0 {
			return nil, fmt.Errorf("metric chunk of %d bytes is corrupt", len(data))
		}
		for off := 0; off < len(data); off += pointSize {
			step := int64(binary.LittleEndian.Uint64(data[off:]))
			if step < lo || step > hi {
				continue
			}
			out = append(out, tracking.Metric{
				Key: key, Step: step,
				Timestamp: int64(binary.LittleEndian.Uint64(data[off+8:])),
				Value:     math.Float64frombits(binary.LittleEndian.Uint64(data[off+16:])),
				ModelID:   modelID, DatasetName: dsName, DatasetDigest: dsDigest,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	less := func(a, b *tracking.Metric) int {
		x1, y1, x2, y2 := a.Timestamp, a.Step, b.Timestamp, b.Step
		if !byTime {
			x1, y1, x2, y2 = a.Step, a.Timestamp, b.Step, b.Timestamp
		}
		switch {
		case x1 != x2:
			return cmpInt(x1, x2)
		case y1 != y2:
			return cmpInt(y1, y2)
		}
		return cmpFloat(a.Value, b.Value)
	}
	sort.SliceStable(out, func(i, j int) bool { return less(&out[i], &out[j]) < 0 })
	// Collapse points equal in (timestamp, step, value), as MLflow's SQL
	// store keeps one row for such repeats.
	kept := out[:0]
	for i := range out {
		if len(kept) > 0 {
			p := &kept[len(kept)-1]
			if p.Step == out[i].Step && p.Timestamp == out[i].Timestamp && sameValue(p.Value, out[i].Value) {
				continue
			}
		}
		kept = append(kept, out[i])
	}
	return kept, nil
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

func sameValue(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}
