package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The declarative config is validated by walking the YAML node tree by hand
// rather than decoding into structs: that keeps line numbers, lets every
// error name its entity and field, and lets the messages be Kong's own
// ("expected an integer", "unknown field", "required field missing").

// entityRec is one entity of the input (a service, route, plugin...), so
// errors can be flattened per entity like Kong's flattened_errors.
type entityRec struct {
	typ  string // singular: "service", "route", "plugin"
	path []any  // where it sits: "services", 0
	raw  any    // the input as decoded, children removed
	name string
	id   string
	tags []string
	line int
}

type walker struct {
	errs []FieldError
}

func (w *walker) add(path []any, ent *entityRec, msg string, line int) {
	var rel []any
	if ent != nil {
		rel = append([]any{}, path[len(ent.path):]...)
	}
	w.errs = append(w.errs, FieldError{
		Path:    pathString(path),
		Message: msg,
		Line:    line,
		path:    append([]any{}, path...),
		entity:  ent,
		rel:     rel,
	})
}

// entityError is an error about the entity as a whole (Kong's "@entity");
// it points at the entity's first line.
func (w *walker) entityError(ent *entityRec, msg string, _ int) {
	w.errs = append(w.errs, FieldError{
		Path:    pathString(ent.path),
		Message: msg,
		Line:    ent.line,
		path:    append([]any{}, ent.path...),
		entity:  ent,
	})
}

func pathString(p []any) string {
	var b strings.Builder
	for _, k := range p {
		switch x := k.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(x) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, x)
		}
	}
	return b.String()
}

func extend(p []any, k ...any) []any {
	out := make([]any, 0, len(p)+len(k))
	return append(append(out, p...), k...)
}

// obj is a YAML mapping being read field by field.
type obj struct {
	w    *walker
	ent  *entityRec
	node *yaml.Node
	path []any
	keys []string
	vals map[string]*yaml.Node
	used map[string]bool
}

// object reads n as a record; it reports "expected a record" otherwise and
// returns an empty obj so callers can go on collecting errors.
func (w *walker) object(n *yaml.Node, path []any, ent *entityRec) *obj {
	o := &obj{w: w, ent: ent, node: n, path: path, vals: map[string]*yaml.Node{}, used: map[string]bool{}}
	if n == nil || isNull(n) {
		return o
	}
	if n.Kind != yaml.MappingNode {
		w.add(path, ent, "expected a record", n.Line)
		return o
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = n.Content[i+1]
	}
	return o
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (o *obj) line() int {
	if o.node == nil {
		return 0
	}
	return o.node.Line
}

// get returns the value node for k, nil when absent or null.
func (o *obj) get(k string) *yaml.Node {
	o.used[k] = true
	n := o.vals[k]
	if n == nil || isNull(n) {
		return nil
	}
	return n
}

func (o *obj) has(k string) bool { return o.vals[k] != nil && !isNull(o.vals[k]) }

func (o *obj) fail(k string, n *yaml.Node, msg string) {
	line := o.line()
	if n != nil {
		line = n.Line
	}
	o.w.add(extend(o.path, k), o.ent, msg, line)
}

func (o *obj) failAt(path []any, n *yaml.Node, msg string) {
	line := o.line()
	if n != nil {
		line = n.Line
	}
	o.w.add(path, o.ent, msg, line)
}

func (o *obj) required(k string) *yaml.Node {
	n := o.get(k)
	if n == nil {
		o.fail(k, nil, "required field missing")
	}
	return n
}

// finish reports the fields nobody asked for, like Kong's "unknown field".
func (o *obj) finish() {
	for _, k := range o.keys {
		if !o.used[k] {
			o.fail(k, o.vals[k], "unknown field")
		}
	}
}

// skip marks fields Kong accepts that the emulation ignores (created_at...).
func (o *obj) skip(keys ...string) {
	for _, k := range keys {
		o.used[k] = true
	}
}

func scalarString(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", false
	}
	return n.Value, true
}

func (o *obj) str(k, def string) string {
	n := o.get(k)
	if n == nil {
		return def
	}
	s, ok := scalarString(n)
	if !ok {
		o.fail(k, n, "expected a string")
		return def
	}
	return s
}

func (o *obj) strOneOf(k, def string, allowed ...string) string {
	s := o.str(k, def)
	if o.has(k) && !contains(allowed, s) {
		o.fail(k, o.vals[k], "expected one of: "+strings.Join(allowed, ", "))
		return def
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func nodeNumber(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		i, err2 := strconv.ParseInt(n.Value, 0, 64)
		if err2 != nil {
			return 0, false
		}
		f = float64(i)
	}
	return f, true
}

// integer reads an integer field bounded by [lo, hi] inclusive.
func (o *obj) integer(k string, def, lo, hi int) int {
	n := o.get(k)
	if n == nil {
		return def
	}
	f, ok := nodeNumber(n)
	if !ok || f != math.Trunc(f) {
		o.fail(k, n, "expected an integer")
		return def
	}
	if f < float64(lo) || f > float64(hi) {
		o.fail(k, n, fmt.Sprintf("value should be between %d and %d", lo, hi))
		return def
	}
	return int(f)
}

// number reads a number field; lo/hi bound it when not NaN.
func (o *obj) number(k string, def, lo, hi float64) float64 {
	n := o.get(k)
	if n == nil {
		return def
	}
	f, ok := nodeNumber(n)
	if !ok {
		o.fail(k, n, "expected a number")
		return def
	}
	if (!math.IsNaN(lo) && f < lo) || (!math.IsNaN(hi) && f > hi) {
		o.fail(k, n, fmt.Sprintf("value should be between %s and %s", luaNum(lo), luaNum(hi)))
		return def
	}
	return f
}

func luaNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (o *obj) numberPtr(k string, gt float64) *float64 {
	n := o.get(k)
	if n == nil {
		return nil
	}
	f, ok := nodeNumber(n)
	if !ok {
		o.fail(k, n, "expected a number")
		return nil
	}
	if f <= gt {
		o.fail(k, n, "value must be greater than "+luaNum(gt))
		return nil
	}
	return &f
}

func (o *obj) boolean(k string, def bool) bool {
	p := o.boolPtr(k)
	if p == nil {
		return def
	}
	return *p
}

func (o *obj) boolPtr(k string) *bool {
	n := o.get(k)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		o.fail(k, n, "expected a boolean")
		return nil
	}
	v := n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	return &v
}

// seq reads a sequence; kind is "an array" or "a set" for the message.
func (o *obj) seq(k, kind string) ([]*yaml.Node, bool) {
	n := o.get(k)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		o.fail(k, n, "expected "+kind)
		return nil, false
	}
	return n.Content, true
}

func (o *obj) strings(k, kind string, def []string) []string {
	items, ok := o.seq(k, kind)
	if !ok {
		return def
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := scalarString(it)
		if !ok {
			o.failAt(extend(o.path, k, i), it, "expected a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

func (o *obj) ints(k string, def []int, lo, hi int) []int {
	items, ok := o.seq(k, "an array")
	if !ok {
		return def
	}
	out := make([]int, 0, len(items))
	for i, it := range items {
		f, ok := nodeNumber(it)
		if !ok || f != math.Trunc(f) {
			o.failAt(extend(o.path, k, i), it, "expected an integer")
			continue
		}
		if f < float64(lo) || f > float64(hi) {
			o.failAt(extend(o.path, k, i), it, fmt.Sprintf("value should be between %d and %d", lo, hi))
			continue
		}
		out = append(out, int(f))
	}
	return out
}

// record reads a nested record field (config, healthchecks...).
func (o *obj) record(k string) *obj {
	return o.w.object(o.get(k), extend(o.path, k), o.ent)
}

// decodeRaw turns a node into plain Go values for echoing back (flattened
// errors, POST /config answers).
func decodeRaw(n *yaml.Node) any {
	if n == nil {
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil
	}
	return jsonSafe(v)
}

// jsonSafe converts yaml's map[string]any / map[any]any trees into values
// encoding/json accepts.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonSafe(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
		return x
	default:
		return x
	}
}
