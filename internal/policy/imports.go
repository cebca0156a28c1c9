package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// LoadAllowlist reads Azure container-scan's allowedlist.yaml
// (.github/containerscan/allowedlist.yaml): general.vulnerabilities and
// general.bestPracticeViolations, lists of IDs. Its entries never expire (the format
// has no date), which the report points out.
func LoadAllowlist(path string) ([]Exception, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("allowlist %s: %v", path, errors.Unwrap(err))
	}
	return ParseAllowlist(path, data)
}

// ParseAllowlist parses allowedlist.yaml content; name is used in errors and sources.
func ParseAllowlist(name string, data []byte) ([]Exception, error) {
	var f struct {
		General struct {
			Vulnerabilities        []string `yaml:"vulnerabilities"`
			BestPracticeViolations []string `yaml:"bestPracticeViolations"`
		} `yaml:"general"`
	}
	if err := decodeYAML(name, data, &f); err != nil {
		return nil, err
	}
	v := &validator{name: name, data: data}
	var out []Exception
	add := func(key string, ids []string, what string) {
		for i, id := range ids {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			src := name
			if l := v.line(fmt.Sprintf("general.%s[%d]", key, i)); l > 0 {
				src = fmt.Sprintf("%s:%d", name, l)
			}
			out = append(out, Exception{ID: id, Reason: "listed in container-scan allowedlist (" + what + ")", Source: src})
		}
	}
	add("vulnerabilities", f.General.Vulnerabilities, "vulnerabilities")
	add("bestPracticeViolations", f.General.BestPracticeViolations, "bestPracticeViolations")
	return out, nil
}

// LoadTrivyIgnore reads a .trivyignore (one ID per line, optional "exp:YYYY-MM-DD",
// "#" comments) or, when the name ends in .yaml/.yml, a .trivyignore.yaml
// (vulnerabilities and misconfigurations with id, paths, purls, statement, expired_at),
// following Trivy's formats (pkg/result/ignore.go). Unlike Trivy, a malformed date is
// an error rather than a skipped line.
func LoadTrivyIgnore(path string) ([]Exception, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trivyignore %s: %v", path, errors.Unwrap(err))
	}
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		return ParseTrivyIgnoreYAML(path, data)
	}
	return ParseTrivyIgnore(path, data)
}

// ParseTrivyIgnore parses the line format of .trivyignore.
func ParseTrivyIgnore(name string, data []byte) ([]Exception, error) {
	var out []Exception
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		e := Exception{ID: fields[0], Reason: "listed in .trivyignore", Source: fmt.Sprintf("%s:%d", name, n)}
		for _, f := range fields[1:] {
			if strings.HasPrefix(f, "#") {
				break
			}
			if d, ok := strings.CutPrefix(f, "exp:"); ok {
				t, err := time.Parse("2006-01-02", d)
				if err != nil {
					return nil, &FieldError{File: name, Line: n, Key: fields[0], Msg: fmt.Sprintf("exp:%s is not a date: use exp:YYYY-MM-DD", d)}
				}
				e.Expires = t
			}
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, &FieldError{File: name, Msg: err.Error()}
	}
	return out, nil
}

// ParseTrivyIgnoreYAML parses .trivyignore.yaml.
func ParseTrivyIgnoreYAML(name string, data []byte) ([]Exception, error) {
	type entry struct {
		ID        string   `yaml:"id"`
		Paths     []string `yaml:"paths"`
		PURLs     []string `yaml:"purls"`
		Statement string   `yaml:"statement"`
		ExpiredAt string   `yaml:"expired_at"`
	}
	var f struct {
		Vulnerabilities   []entry `yaml:"vulnerabilities"`
		Misconfigurations []entry `yaml:"misconfigurations"`
		Secrets           []entry `yaml:"secrets"`
		Licenses          []entry `yaml:"licenses"`
	}
	if err := decodeYAML(name, data, &f); err != nil {
		return nil, err
	}
	v := &validator{name: name, data: data}
	var out []Exception
	for _, group := range []struct {
		key     string
		entries []entry
	}{{"vulnerabilities", f.Vulnerabilities}, {"misconfigurations", f.Misconfigurations}} {
		for i, e := range group.entries {
			key := fmt.Sprintf("%s[%d]", group.key, i)
			if strings.TrimSpace(e.ID) == "" {
				v.fail(key+".id", "missing")
				continue
			}
			var exp time.Time
			if e.ExpiredAt != "" {
				t, err := ParseExpiry(e.ExpiredAt)
				if err != nil {
					v.fail(key+".expired_at", "%v", err)
					continue
				}
				exp = t
			}
			for _, p := range e.Paths {
				if !validGlob(p) {
					v.fail(key+".paths", "%q is not a valid glob", p)
				}
			}
			reason := e.Statement
			if reason == "" {
				reason = "listed in .trivyignore.yaml"
			}
			base := Exception{ID: strings.TrimSpace(e.ID), Reason: reason, Expires: exp, Source: v.source(key)}
			paths, purls := e.Paths, e.PURLs
			if len(paths) == 0 {
				paths = []string{""}
			}
			if len(purls) == 0 {
				purls = []string{""}
			}
			for _, p := range paths {
				for _, u := range purls {
					x := base
					x.Path, x.Package = p, u
					out = append(out, x)
				}
			}
		}
	}
	return out, v.err
}

// LoadOpenVEX reads an OpenVEX document (v0.0.1 or v0.2.0). Statements with status
// not_affected or fixed become exceptions scoped to the statement's subcomponents (or
// package products); affected and under_investigation statements suppress nothing.
func LoadOpenVEX(path string) ([]Exception, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("VEX document %s: %v", path, errors.Unwrap(err))
	}
	return ParseOpenVEX(path, data)
}

// ParseOpenVEX parses OpenVEX JSON.
func ParseOpenVEX(name string, data []byte) ([]Exception, error) {
	type component struct {
		ID            string      `json:"@id"`
		Subcomponents []component `json:"subcomponents"`
	}
	var doc struct {
		Context    string `json:"@context"`
		Statements []struct {
			Vulnerability   json.RawMessage   `json:"vulnerability"`
			Products        []json.RawMessage `json:"products"`
			Status          string            `json:"status"`
			Justification   string            `json:"justification"`
			ImpactStatement string            `json:"impact_statement"`
			StatusNotes     string            `json:"status_notes"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &FieldError{File: name, Msg: "not an OpenVEX JSON document: " + err.Error()}
	}
	if !strings.Contains(doc.Context, "openvex") {
		return nil, &FieldError{File: name, Key: "@context", Msg: fmt.Sprintf("%q is not an OpenVEX context (https://openvex.dev/ns/...)", doc.Context)}
	}
	var out []Exception
	for i, st := range doc.Statements {
		key := fmt.Sprintf("statements[%d]", i)
		var vulnName string
		var vobj struct {
			Name string `json:"name"`
			ID   string `json:"@id"`
		}
		if json.Unmarshal(st.Vulnerability, &vulnName) != nil {
			if err := json.Unmarshal(st.Vulnerability, &vobj); err != nil {
				return nil, &FieldError{File: name, Key: key + ".vulnerability", Msg: "want a name or an object with \"name\""}
			}
			vulnName = vobj.Name
			if vulnName == "" {
				vulnName = vobj.ID
			}
		}
		if vulnName == "" {
			return nil, &FieldError{File: name, Key: key + ".vulnerability", Msg: "missing"}
		}
		switch st.Status {
		case "not_affected", "fixed":
		case "affected", "under_investigation":
			continue
		default:
			return nil, &FieldError{File: name, Key: key + ".status", Msg: fmt.Sprintf("%q is not an OpenVEX status", st.Status)}
		}
		reason := st.ImpactStatement
		if reason == "" {
			reason = st.StatusNotes
		}
		if reason == "" {
			reason = "VEX: " + st.Status
		}
		base := Exception{ID: vulnName, Reason: reason, Source: fmt.Sprintf("%s (%s)", name, key), VEXStatus: st.Status, Justification: st.Justification}
		var scopes []string
		for _, raw := range st.Products {
			var c component
			var s string
			if json.Unmarshal(raw, &s) == nil {
				c.ID = s
			} else if err := json.Unmarshal(raw, &c); err != nil {
				return nil, &FieldError{File: name, Key: key + ".products", Msg: "want product objects with \"@id\""}
			}
			for _, sc := range c.Subcomponents {
				if sc.ID != "" {
					scopes = append(scopes, sc.ID)
				}
			}
			if len(c.Subcomponents) == 0 && strings.HasPrefix(c.ID, "pkg:") && !strings.HasPrefix(c.ID, "pkg:oci/") && !strings.HasPrefix(c.ID, "pkg:docker/") {
				scopes = append(scopes, c.ID)
			}
		}
		if len(scopes) == 0 {
			out = append(out, base)
		}
		for _, s := range scopes {
			x := base
			x.Package = s
			out = append(out, x)
		}
	}
	return out, nil
}
