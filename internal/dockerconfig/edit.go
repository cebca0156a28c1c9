// Package dockerconfig edits the docker CLI's config.json in place without disturbing
// what it does not own: other keys keep their order and their exact bytes (credentials,
// other plugins' settings), only the edited values change, and the file is replaced
// atomically with its permissions kept.
package dockerconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/sys/atomicwriter"
)

// member is one key of a JSON object, with its value's raw bytes.
type member struct {
	key string
	raw json.RawMessage
}

// object is a JSON object that remembers key order and raw values.
type object []member

func parseObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var obj object
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		obj = append(obj, member{key: kt.(string), raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return obj, nil
}

func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == key {
			return m.raw, true
		}
	}
	return nil, false
}

func (o object) set(key string, raw json.RawMessage) object {
	for i, m := range o {
		if m.key == key {
			o[i].raw = raw
			return o
		}
	}
	return append(o, member{key: key, raw: raw})
}

func (o object) del(key string) object {
	for i, m := range o {
		if m.key == key {
			return append(o[:i:i], o[i+1:]...)
		}
	}
	return o
}

// encode writes the object as the docker CLI does (json.MarshalIndent with a tab),
// keeping each value's raw bytes.
func (o object) encode(indent string) []byte {
	if len(o) == 0 {
		return []byte("{}")
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, m := range o {
		k, _ := json.Marshal(m.key)
		b.WriteString(indent + "\t")
		b.Write(k)
		b.WriteString(": ")
		b.Write(m.raw)
		if i < len(o)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString(indent + "}")
	return b.Bytes()
}

// Edit is one change: set (or, with a nil value, delete) Path inside the config's
// nested objects, e.g. {"plugins", "secscan", "hooks"}.
type Edit struct {
	Path  []string
	Value any // nil deletes
}

// Apply reads path (a missing file counts as {}), applies the edits, and writes the
// file back atomically (mode kept, 0600 for a new file). Members not named by an edit
// keep their bytes; an object emptied by a delete is removed.
func Apply(path string, edits ...Edit) error {
	// Write through a symbolic link (dotfile managers link config.json), as the
	// docker CLI does.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	data, err := os.ReadFile(path)
	mode := os.FileMode(0o600)
	switch {
	case errors.Is(err, os.ErrNotExist):
		data = []byte("{}")
	case err != nil:
		return err
	default:
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	root, err := parseObject(data)
	if err != nil {
		return fmt.Errorf("%s is not a JSON object: %v (fix or move it; nothing was changed)", path, err)
	}
	for _, e := range edits {
		if root, err = apply(root, e.Path, e.Value, ""); err != nil {
			return fmt.Errorf("%s: %v (nothing was changed)", path, err)
		}
	}
	out := append(root.encode(""), '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cannot create the folder of %s: %v", path, errors.Unwrap(err))
	}
	if err := atomicwriter.WriteFile(path, out, mode); err != nil {
		return fmt.Errorf("cannot write %s (it is replaced through a temporary file in its folder, which must be writable): %v", path, errors.Unwrap(err))
	}
	return nil
}

func apply(o object, path []string, value any, indent string) (object, error) {
	key := path[0]
	if len(path) == 1 {
		if value == nil {
			return o.del(key), nil
		}
		raw, err := json.Marshal(value)
		if err != nil {
			return nil, err
		}
		return o.set(key, raw), nil
	}
	var child object
	if raw, ok := o.get(key); ok && string(bytes.TrimSpace(raw)) != "null" {
		c, err := parseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not an object", key)
		}
		child = c
	} else if value == nil {
		return o, nil
	}
	child, err := apply(child, path[1:], value, indent+"\t")
	if err != nil {
		return nil, err
	}
	if len(child) == 0 {
		return o.del(key), nil
	}
	return o.set(key, child.encode(indent+"\t")), nil
}

// Lookup returns the string at path, or "" when absent.
func Lookup(path string, keys ...string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "", fmt.Errorf("%s is not JSON: %v", path, err)
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return "", nil
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s, nil
}
