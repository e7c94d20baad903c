package sqlstore

import (
	"context"
	"strconv"
	"strings"
)

// A column holds one column of the rows of a bulk insert, or the values of
// a list: one value a row, and their PostgreSQL type (for Dialect.Arrays).
type column struct {
	typ   string
	n     int
	slice func(i, j int) any // the values of rows i..j-1, as a slice
	at    func(i int) any
}

func col[T any](typ string, vs []T) column {
	return column{typ: typ, n: len(vs), slice: func(i, j int) any { return vs[i:j] }, at: func(i int) any { return vs[i] }}
}

// in returns the condition `expr IN vals` and its arguments.
func (d *Dialect) in(expr string, vals column) (string, []any) {
	if d.Arrays {
		return expr + " = ANY(?::" + vals.typ + "[])", []any{vals.slice(0, vals.n)}
	}
	args := make([]any, vals.n)
	for i := range args {
		args[i] = vals.at(i)
	}
	return expr + " IN (" + placeholders(vals.n) + ")", args
}

// maxRows is how many rows of width arguments one statement may carry (0:
// any number).
func (d *Dialect) maxRows(width int) int {
	if d.Arrays || d.MaxParams == 0 {
		return 0
	}
	return max(1, d.MaxParams/width)
}

// bulk runs `head rows tail` for the rows made of the values lead
// followed by one value of each of cols. As arrays, the rows are one
// statement (unnest), which writes them ordered by the first column when
// keyOrder (the lock order of upserts, see upsertTags); as VALUES, as many
// statements as the dialect's bound on arguments needs.
func (c *conn) bulk(ctx context.Context, head, tail string, keyOrder bool, lead []any, cols ...column) error {
	n := cols[0].n
	if n == 0 {
		return nil
	}
	if c.d.Arrays {
		var sel, arr, names strings.Builder
		args := append([]any(nil), lead...)
		sel.WriteString(strings.Repeat("?, ", len(lead)))
		for i, cl := range cols {
			if i > 0 {
				sel.WriteString(", ")
				arr.WriteString(", ")
			}
			name := "c" + strconv.Itoa(i)
			sel.WriteString("x." + name)
			arr.WriteString("?::" + cl.typ + "[]")
			if i > 0 {
				names.WriteString(", ")
			}
			names.WriteString(name)
			args = append(args, cl.slice(0, n))
		}
		q := head + " SELECT " + sel.String() + " FROM unnest(" + arr.String() + ") AS x(" + names.String() + ")"
		if keyOrder {
			q += " ORDER BY x.c0"
		}
		q += " " + tail
		_, err := c.Exec(ctx, q, args...)
		return err
	}
	width := len(lead) + len(cols)
	per := c.d.maxRows(width)
	if per == 0 {
		per = n
	}
	row := "(" + placeholders(width) + ")"
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		args := make([]any, 0, (end-start)*width)
		var b strings.Builder
		b.WriteString(head)
		b.WriteString(" VALUES ")
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = append(args, lead...)
			for _, cl := range cols {
				args = append(args, cl.at(i))
			}
		}
		b.WriteString(" ")
		b.WriteString(tail)
		if _, err := c.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
