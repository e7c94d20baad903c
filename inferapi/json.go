package inferapi

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The request decoders read JSON with their own parser rather than
// encoding/json into `any`: a 32 MiB array of numbers would otherwise become
// hundreds of megabytes of boxed values. Arrays of scalars, and rectangular
// nested arrays of them, are packed into one flat typed slice with a shape
// as they are read; everything else stays a generic tree.
//
// Parsed values are: nil, bool, string, int64 (integer literals that fit),
// float64 (other numbers, and the NaN, Infinity and -Infinity tokens Python's
// json module writes), *packed, []any (arrays that do not pack) and *object.

// maxDepth bounds nesting, so that a body of brackets cannot exhaust the
// stack.
const maxDepth = 256

// kind is the element type of a packed array.
type kind uint8

const (
	kNone  kind = iota // no elements
	kInt               // integer literals
	kFloat             // numbers, some not integers, or nulls (NaN)
	kBool
	kStr
)

// packed is a rectangular array of scalars of one kind, flattened row-major.
type packed struct {
	shape  []int64
	kind   kind
	ints   []int64
	floats []float64
	bools  []bool
	strs   []string
	// For kFloat arrays that mix integer literals with other numbers:
	// which elements were integers, and the exact values of those a
	// float64 cannot hold. Per-column types in data frames need them.
	intBits []uint64
	bigInts map[int]int64
}

func (p *packed) len() int {
	switch p.kind {
	case kInt:
		return len(p.ints)
	case kFloat:
		return len(p.floats)
	case kBool:
		return len(p.bools)
	case kStr:
		return len(p.strs)
	}
	return 0
}

// intAt reports whether element i was an integer literal, and its value.
func (p *packed) intAt(i int) (int64, bool) {
	switch p.kind {
	case kInt:
		return p.ints[i], true
	case kFloat:
		if p.intBits != nil && p.intBits[i/64]&(1<<(i%64)) != 0 {
			if v, ok := p.bigInts[i]; ok {
				return v, true
			}
			return int64(p.floats[i]), true
		}
	}
	return 0, false
}

// at returns element i as a parsed scalar.
func (p *packed) at(i int) any {
	switch p.kind {
	case kInt:
		return p.ints[i]
	case kFloat:
		if v, ok := p.intAt(i); ok {
			return v
		}
		return p.floats[i]
	case kBool:
		return p.bools[i]
	case kStr:
		return p.strs[i]
	}
	return nil
}

// sub returns the i-th of n equal slices of p along its first dimension.
func (p *packed) sub(i, n int) *packed {
	size := p.len() / n
	lo, hi := i*size, (i+1)*size
	q := &packed{shape: p.shape[1:], kind: p.kind}
	switch p.kind {
	case kInt:
		q.ints = p.ints[lo:hi]
	case kFloat:
		q.floats = p.floats[lo:hi]
		for j := lo; j < hi; j++ {
			if v, ok := p.intAt(j); ok {
				q.markInt(j-lo, v)
			}
		}
	case kBool:
		q.bools = p.bools[lo:hi]
	case kStr:
		q.strs = p.strs[lo:hi]
	}
	return q
}

// markInt records that float element i was the integer v.
func (p *packed) markInt(i int, v int64) {
	for len(p.intBits) <= i/64 {
		p.intBits = append(p.intBits, 0)
	}
	p.intBits[i/64] |= 1 << (i % 64)
	if v > 1<<53 || v < -(1<<53) {
		if p.bigInts == nil {
			p.bigInts = map[int]int64{}
		}
		p.bigInts[i] = v
	}
}

// object is a JSON object that keeps its keys in order: data frame columns
// come in the order the request gives them.
type object struct {
	keys []string
	vals []any
	idx  map[string]int
}

func (o *object) get(k string) (any, bool) {
	if o.idx != nil {
		i, ok := o.idx[k]
		if !ok {
			return nil, false
		}
		return o.vals[i], true
	}
	for i, key := range o.keys {
		if key == k {
			return o.vals[i], true
		}
	}
	return nil, false
}

func (o *object) set(k string, v any) {
	if o.idx == nil && len(o.keys) >= 8 {
		o.idx = make(map[string]int, 16)
		for i, key := range o.keys {
			o.idx[key] = i
		}
	}
	if o.idx != nil {
		if i, ok := o.idx[k]; ok {
			o.vals[i] = v
			return
		}
		o.idx[k] = len(o.keys)
	} else {
		for i, key := range o.keys {
			if key == k {
				o.vals[i] = v
				return
			}
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// builder packs array elements as they come, falling back to a generic
// []any when they are not all scalars of one kind or all equal arrays.
type builder struct {
	n     int
	mode  uint8 // 0 empty, 1 scalars, 2 arrays, 3 generic
	p     packed
	inner []int64
	gen   []any
}

func (b *builder) fallback() {
	switch b.mode {
	case 1:
		b.gen = make([]any, b.n, b.n+1)
		for i := range b.n {
			b.gen[i] = b.p.at(i)
		}
	case 2:
		whole := b.p
		whole.shape = append([]int64{int64(b.n)}, b.inner...)
		b.gen = make([]any, b.n, b.n+1)
		for i := range b.n {
			b.gen[i] = whole.sub(i, b.n)
		}
	}
	b.mode = 3
	b.p = packed{}
}

// toFloat turns the ints packed so far into floats, remembering them.
func (b *builder) toFloat() {
	ints := b.p.ints
	b.p.ints = nil
	b.p.kind = kFloat
	b.p.floats = make([]float64, len(ints), len(ints)+1)
	for i, v := range ints {
		b.p.floats[i] = float64(v)
		b.p.markInt(i, v)
	}
}

func (b *builder) scalar(k kind) bool {
	switch b.mode {
	case 0:
		b.mode, b.p.kind = 1, k
		return true
	case 1:
		if b.p.kind == k || (k == kInt && b.p.kind == kFloat) {
			return true
		}
		if k == kFloat && b.p.kind == kInt {
			b.toFloat()
			return true
		}
	}
	if b.mode != 3 {
		b.fallback()
	}
	return false
}

func (b *builder) addInt(v int64) {
	if b.scalar(kInt) {
		if b.p.kind == kInt {
			b.p.ints = append(b.p.ints, v)
		} else {
			b.p.floats = append(b.p.floats, float64(v))
			b.p.markInt(len(b.p.floats)-1, v)
		}
	} else {
		b.gen = append(b.gen, v)
	}
	b.n++
}

func (b *builder) addFloat(v float64) {
	if b.scalar(kFloat) {
		b.p.floats = append(b.p.floats, v)
	} else {
		b.gen = append(b.gen, v)
	}
	b.n++
}

// addNull packs null as NaN among numbers (as pandas reads it).
func (b *builder) addNull() {
	if (b.mode == 0 || (b.mode == 1 && (b.p.kind == kInt || b.p.kind == kFloat))) && b.scalar(kFloat) {
		b.p.floats = append(b.p.floats, math.NaN())
	} else {
		if b.mode != 3 {
			b.fallback()
		}
		b.gen = append(b.gen, nil)
	}
	b.n++
}

func (b *builder) addBool(v bool) {
	if b.scalar(kBool) {
		b.p.bools = append(b.p.bools, v)
	} else {
		b.gen = append(b.gen, v)
	}
	b.n++
}

func (b *builder) addStr(v string) {
	if b.scalar(kStr) {
		b.p.strs = append(b.p.strs, v)
	} else {
		b.gen = append(b.gen, v)
	}
	b.n++
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (b *builder) addPacked(q *packed) {
	switch b.mode {
	case 0:
		b.mode, b.inner, b.p.kind = 2, q.shape, q.kind
	case 2:
		if !sameShape(b.inner, q.shape) {
			b.fallback()
		} else if q.len() > 0 {
			switch {
			case b.p.kind == kNone || b.p.kind == q.kind:
				b.p.kind = q.kind
			case b.p.kind == kInt && q.kind == kFloat:
				b.toFloat()
			case b.p.kind == kFloat && q.kind == kInt:
			default:
				b.fallback()
			}
		}
	default:
		if b.mode != 3 {
			b.fallback()
		}
	}
	if b.mode == 3 {
		b.gen = append(b.gen, q)
		b.n++
		return
	}
	switch b.p.kind {
	case kInt:
		b.p.ints = append(b.p.ints, q.ints...)
	case kFloat:
		off := len(b.p.floats)
		if q.kind == kInt {
			for i, v := range q.ints {
				b.p.floats = append(b.p.floats, float64(v))
				b.p.markInt(off+i, v)
			}
		} else {
			b.p.floats = append(b.p.floats, q.floats...)
			if q.intBits != nil {
				for i := range q.floats {
					if v, ok := q.intAt(i); ok {
						b.p.markInt(off+i, v)
					}
				}
			}
		}
	case kBool:
		b.p.bools = append(b.p.bools, q.bools...)
	case kStr:
		b.p.strs = append(b.p.strs, q.strs...)
	}
	b.n++
}

// add appends any parsed value.
func (b *builder) add(v any) {
	switch v := v.(type) {
	case nil:
		b.addNull()
	case bool:
		b.addBool(v)
	case string:
		b.addStr(v)
	case int64:
		b.addInt(v)
	case float64:
		b.addFloat(v)
	case *packed:
		b.addPacked(v)
	default:
		if b.mode != 3 {
			b.fallback()
		}
		b.gen = append(b.gen, v)
		b.n++
	}
}

func (b *builder) result() any {
	switch b.mode {
	case 0:
		return &packed{shape: []int64{0}}
	case 1:
		p := b.p
		p.shape = []int64{int64(b.n)}
		return &p
	case 2:
		p := b.p
		p.shape = append([]int64{int64(b.n)}, b.inner...)
		return &p
	}
	return b.gen
}

// pack packs values as if they had been one JSON array.
func pack(vals []any) any {
	var b builder
	for _, v := range vals {
		b.add(v)
	}
	return b.result()
}

// jsonError is malformed JSON.
type jsonError struct {
	msg string
	off int
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

type parser struct {
	b     []byte
	i     int
	depth int
}

// parseJSON parses one JSON document.
func parseJSON(b []byte) (any, error) {
	p := parser{b: b}
	p.ws()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, p.fail("unexpected data after the JSON value")
	}
	return v, nil
}

func (p *parser) fail(msg string) error { return &jsonError{msg: msg, off: p.i} }

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *parser) value() (any, error) {
	if p.i >= len(p.b) {
		return nil, p.fail("unexpected end of JSON")
	}
	switch c := p.b[p.i]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		return p.str()
	case 't':
		if p.literal("true") {
			return true, nil
		}
	case 'f':
		if p.literal("false") {
			return false, nil
		}
	case 'n':
		if p.literal("null") {
			return nil, nil
		}
	default:
		if c == '-' || c == 'N' || c == 'I' || (c >= '0' && c <= '9') {
			isInt, iv, fv, err := p.number()
			if err != nil {
				return nil, err
			}
			if isInt {
				return iv, nil
			}
			return fv, nil
		}
	}
	return nil, p.fail(fmt.Sprintf("invalid character %q", p.b[p.i]))
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail(fmt.Sprintf("JSON nested deeper than %d levels", maxDepth))
	}
	return nil
}

func (p *parser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++
	var b builder
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return b.result(), nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) {
			return nil, p.fail("unexpected end of JSON")
		}
		if c := p.b[p.i]; c == '-' || c == 'N' || c == 'I' || (c >= '0' && c <= '9') {
			isInt, iv, fv, err := p.number()
			if err != nil {
				return nil, err
			}
			if isInt {
				b.addInt(iv)
			} else {
				b.addFloat(fv)
			}
		} else {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			b.add(v)
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, p.fail("unexpected end of JSON")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return b.result(), nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

func (p *parser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++
	o := &object{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return o, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.fail("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.i++
		p.ws()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		o.set(k, v)
		p.ws()
		if p.i >= len(p.b) {
			return nil, p.fail("unexpected end of JSON")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return o, nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

// number reads a JSON number, or NaN, Infinity or -Infinity.
func (p *parser) number() (isInt bool, iv int64, fv float64, err error) {
	start := p.i
	neg := false
	if p.b[p.i] == '-' {
		neg = true
		p.i++
	}
	if p.i < len(p.b) && p.b[p.i] == 'I' {
		if !p.literal("Infinity") {
			return false, 0, 0, p.fail("invalid number")
		}
		if neg {
			return false, 0, math.Inf(-1), nil
		}
		return false, 0, math.Inf(1), nil
	}
	if !neg && p.b[p.i] == 'N' {
		if !p.literal("NaN") {
			return false, 0, 0, p.fail("invalid number")
		}
		return false, 0, math.NaN(), nil
	}
	digits := p.i
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	default:
		return false, 0, 0, p.fail("invalid number")
	}
	isInt = true
	if p.i < len(p.b) && p.b[p.i] == '.' {
		isInt = false
		p.i++
		if p.i >= len(p.b) || p.b[p.i] < '0' || p.b[p.i] > '9' {
			return false, 0, 0, p.fail("invalid number")
		}
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		isInt = false
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.i >= len(p.b) || p.b[p.i] < '0' || p.b[p.i] > '9' {
			return false, 0, 0, p.fail("invalid number")
		}
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	}
	if isInt && p.i-digits <= 18 {
		var v int64
		for _, c := range p.b[digits:p.i] {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return true, v, 0, nil
	}
	text := string(p.b[start:p.i])
	if isInt {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			return true, v, 0, nil
		}
	}
	// Out-of-range literals read as ±Inf (or 0), as Python reads them.
	f, _ := strconv.ParseFloat(text, 64)
	return false, 0, f, nil
}

// str reads a JSON string.
func (p *parser) str() (string, error) {
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("control character in string")
		}
		p.i++
	}
	buf := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			break
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A pair of escapes makes one rune; a lone half is invalid.
				dec := utf8.RuneError
				if len(p.b)-p.i >= 6 && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					if r2, ok := p.hex4(); ok {
						dec = utf16.DecodeRune(r, r2)
					}
					if dec == utf8.RuneError {
						p.i = save
					}
				}
				r = dec
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.fail("invalid escape in string")
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// plain converts a parsed value to the values encoding/json would give
// (with numbers as int64 or float64), for parameters handed to models.
func plain(v any) any {
	switch v := v.(type) {
	case *object:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k] = plain(v.vals[i])
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	case *packed:
		return unpack(v, 0, 0)
	}
	return v
}

func unpack(p *packed, dim, off int) any {
	if len(p.shape) == 0 {
		return p.at(off)
	}
	n := int(p.shape[dim])
	if dim == len(p.shape)-1 {
		out := make([]any, n)
		for i := range n {
			out[i] = p.at(off + i)
		}
		return out
	}
	stride := 1
	for _, d := range p.shape[dim+1:] {
		stride *= int(d)
	}
	out := make([]any, n)
	for i := range n {
		out[i] = unpack(p, dim+1, off+i*stride)
	}
	return out
}
