package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one validation failure in a declarative config.
type FieldError struct {
	// Path names the entity and field the way a trainee reads it in the
	// file: "services[0].routes[1].paths[0]". Indexes are 0-based.
	Path string
	// Message is Kong's text for the failure ("expected an integer").
	Message string
	// Line is the 1-based line in the YAML/JSON input, 0 when unknown.
	Line int

	path   []any      // raw path: string keys and int indexes
	entity *entityRec // the entity the error belongs to, for flattening
	rel    []any      // path relative to entity; nil for an entity-level error
	// reference marks an error of Kong's second stage (references and
	// uniqueness, checked only once the schema holds): path is where it
	// sits in fields, and a later one at the same place replaces it.
	reference bool
}

func (e FieldError) String() string {
	s := e.Path + ": " + e.Message
	if e.Path == "" {
		s = e.Message
	}
	if e.Line > 0 {
		s += " (line " + strconv.Itoa(e.Line) + ")"
	}
	return s
}

// Error is a declarative config that Kong would refuse. Error() has one
// line per field error; KongBody renders Admin API's 400 answer.
type Error struct {
	Errors []FieldError
	input  any // the decoded input, for the flattened errors' entity copies
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.String()
	}
	return "invalid declarative configuration:\n  " + strings.Join(lines, "\n  ")
}

// Fields is Kong's nested error table: {"services":[{"read_timeout":"expected an integer"}]}.
// Entity-level checks sit under "@entity" as a list, like Kong's.
func (e *Error) Fields() map[string]any {
	root := map[string]any{}
	for _, fe := range e.Errors {
		msg := fe.Message
		if fe.reference {
			setNested(root, fe.path, func(any) any { return msg })
			continue
		}
		if fe.rel == nil && fe.entity != nil {
			p := append(append([]any{}, fe.entity.path...), "@entity")
			setNested(root, p, func(old any) any {
				list, _ := old.([]any)
				return append(list, msg)
			})
			continue
		}
		setNested(root, fe.path, func(old any) any {
			if old != nil {
				return old // a field carries one message in Kong; the first wins
			}
			return msg
		})
	}
	return root
}

// setNested stores leaf(old) at p, building maps for string keys and arrays
// (padded with nulls) for indexes.
func setNested(root map[string]any, p []any, leaf func(old any) any) {
	var set func(cur any, p []any) any
	set = func(cur any, p []any) any {
		if len(p) == 0 {
			return leaf(cur)
		}
		switch k := p[0].(type) {
		case int:
			arr, ok := cur.([]any)
			if !ok && cur != nil {
				return cur // a message already sits here
			}
			for len(arr) <= k {
				arr = append(arr, nil)
			}
			arr[k] = set(arr[k], p[1:])
			return arr
		default:
			m, ok := cur.(map[string]any)
			if !ok {
				if cur != nil {
					return cur
				}
				m = map[string]any{}
			}
			key := fmt.Sprint(k)
			m[key] = set(m[key], p[1:])
			return m
		}
	}
	set(root, p)
}

// Flattened is Kong's flattened_errors array (POST /config?flatten_errors=1).
func (e *Error) Flattened() []map[string]any {
	var order []*entityRec
	byEnt := map[*entityRec][]map[string]any{}
	for _, fe := range e.Errors {
		if fe.entity == nil || fe.reference {
			continue // Kong flattens only the schema's errors
		}
		if _, seen := byEnt[fe.entity]; !seen {
			order = append(order, fe.entity)
		}
		var item map[string]any
		if fe.rel == nil {
			item = map[string]any{"type": "entity", "message": fe.Message}
		} else {
			item = map[string]any{"type": "field", "field": luaField(fe.rel), "message": fe.Message}
		}
		byEnt[fe.entity] = append(byEnt[fe.entity], item)
	}
	out := make([]map[string]any, 0, len(order))
	for _, ent := range order {
		f := map[string]any{
			"entity_type": ent.typ,
			"entity":      ent.raw,
			"errors":      byEnt[ent],
		}
		if ent.name != "" {
			f["entity_name"] = ent.name
		}
		if isUUID(ent.id) {
			f["entity_id"] = ent.id
		}
		if ent.tags != nil {
			f["entity_tags"] = ent.tags
		}
		out = append(out, f)
	}
	return out
}

// luaField joins a relative path like Kong's categorize_errors: dots, with
// 1-based array indexes ("paths.1", "config.minute").
func luaField(p []any) string {
	parts := make([]string, len(p))
	for i, k := range p {
		if n, ok := k.(int); ok {
			parts[i] = strconv.Itoa(n + 1)
		} else {
			parts[i] = fmt.Sprint(k)
		}
	}
	return strings.Join(parts, ".")
}

// topLevelOnly keeps the errors Kong leaves in "fields" after flattening:
// those that belong to no entity (e.g. _format_version).
func (e *Error) topLevelOnly() *Error {
	c := &Error{input: e.input}
	for _, fe := range e.Errors {
		if fe.entity == nil || fe.reference {
			c.Errors = append(c.Errors, fe)
		}
	}
	return c
}

// KongBody is the Admin API's 400 answer to POST /config. With flatten
// (Kong's ?flatten_errors=1) the entity errors move into flattened_errors
// and out of fields, exactly as Kong does; without it there is no
// flattened_errors (real Kong 3.9.1).
func (e *Error) KongBody(flatten bool) []byte {
	fieldsErr := e
	if flatten {
		fieldsErr = e.topLevelOnly()
	}
	fields := fieldsErr.Fields()
	body := map[string]any{
		"code":    14,
		"name":    "invalid declarative configuration",
		"message": "declarative config is invalid: " + luaPretty(fields),
		"fields":  fields,
	}
	if flatten {
		if flat := e.Flattened(); len(flat) > 0 {
			body["flattened_errors"] = flat
		} else {
			body["flattened_errors"] = map[string]any{} // an empty Lua table: {} in Kong's JSON
		}
	}
	return KongJSON(body)
}

// KongJSON encodes v as Kong does: no HTML escaping, no trailing newline.
func KongJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only maps, slices and scalars reach here
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// luaPretty renders a value like Penlight's pretty.write(t, "") which Kong
// uses for the message: {services={{read_timeout="expected an integer"}}}.
// Arrays with leading nulls use explicit [i]= keys, as Lua tables with holes do.
func luaPretty(v any) string {
	var b strings.Builder
	var write func(v any)
	write = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteByte(',')
				}
				if isLuaIdent(k) {
					b.WriteString(k)
				} else {
					b.WriteString("[" + strconv.Quote(k) + "]")
				}
				b.WriteByte('=')
				write(x[k])
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('{')
			positional := true
			first := true
			for i, el := range x {
				if el == nil {
					positional = false
					continue
				}
				if !first {
					b.WriteByte(',')
				}
				first = false
				if !positional {
					b.WriteString("[" + strconv.Itoa(i+1) + "]=")
				}
				write(el)
			}
			b.WriteByte('}')
		case string:
			b.WriteString(strconv.Quote(x))
		default:
			fmt.Fprint(&b, x)
		}
	}
	write(v)
	return b.String()
}

func isLuaIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}
