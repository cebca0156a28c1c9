package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	openvex "github.com/openvex/go-vex/pkg/vex"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// LoadAllowlist reads Azure container-scan's allowedlist.yaml
// (.github/containerscan/allowedlist.yaml): general.vulnerabilities and
// general.bestPracticeViolations, lists of IDs. Its entries never expire (the format
// has no date), which the report points out.
func LoadAllowlist(path string) ([]Exception, error) {
	data, err := readLimited(path, "allowlist")
	if err != nil {
		return nil, err
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
	data, err := readLimited(path, "trivyignore")
	if err != nil {
		return nil, err
	}
	if TrivyIgnoreFormat(path) == FormatTrivyIgnoreYAML {
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

// ParseTrivyIgnoreYAML parses .trivyignore.yaml as Trivy's IgnoreConfig does:
// vulnerabilities, misconfigurations and secrets (by rule ID), each with id, paths,
// purls, statement and expired_at. licenses entries are read and ignored (licences are
// not findings here).
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
	}{{"vulnerabilities", f.Vulnerabilities}, {"misconfigurations", f.Misconfigurations}, {"secrets", f.Secrets}} {
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

// LoadOpenVEX reads an OpenVEX document (v0.0.1 or v0.2.0); see ParseOpenVEXNotes.
func LoadOpenVEX(path string) ([]Exception, error) {
	ex, _, err := loadOpenVEX(path)
	return ex, err
}

func loadOpenVEX(path string) ([]Exception, []string, error) {
	data, err := readLimited(path, "VEX document")
	if err != nil {
		return nil, nil, err
	}
	return ParseOpenVEXNotes(path, data)
}

// ParseOpenVEX parses OpenVEX JSON; see ParseOpenVEXNotes (its notes are dropped).
func ParseOpenVEX(name string, data []byte) ([]Exception, error) {
	ex, _, err := ParseOpenVEXNotes(name, data)
	return ex, err
}

// ParseOpenVEXNotes parses an OpenVEX document (v0.0.1 or v0.2.0, JSON). A statement
// with status not_affected or fixed suppresses its vulnerability (named by name, @id or
// aliases) for its products. Products and subcomponents are components as the OpenVEX
// spec defines them (an @id IRI, identifiers purl/cpe23/cpe22, hashes) and are matched
// as github.com/openvex/go-vex's Component.Matches does (Trivy's VEX library): @id or any
// identifier, purls from generic to specific (pkg:apk/alpine/musl matches every musl).
//   - An image product (a pkg:oci/... or pkg:docker/... purl among its @id and
//     identifiers, or a sha-256/sha-512 hash of the image) must be the scanned image;
//     its subcomponents narrow it to those packages.
//   - A package product (any other purl) stands for that package in any image; so do
//     its subcomponents.
//
// A product or subcomponent that we cannot compare with a finding (only an IRI that is
// not a purl, only CPEs, or a package known only by hashes: findings carry purls) does
// not fail the document: it is left out and said in a note. As the OpenVEX spec says,
// for the same vulnerability and product the last statement wins, so a later affected
// or under_investigation statement cancels an earlier not_affected one. not_affected
// needs a justification or an impact statement.
func ParseOpenVEXNotes(name string, data []byte) ([]Exception, []string, error) {
	type component struct {
		openvex.Component
		Subcomponents []openvex.Component `json:"subcomponents"`
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
		return nil, nil, &FieldError{File: name, Msg: "not an OpenVEX JSON document (want an object with @context and statements)"}
	}
	if !strings.Contains(doc.Context, "openvex") {
		return nil, nil, &FieldError{File: name, Key: "@context", Msg: fmt.Sprintf("%q is not an OpenVEX context (https://openvex.dev/ns/...)", doc.Context)}
	}
	type scope struct{ product, pkg *openvex.Component }
	type verdict struct {
		ex     Exception
		active bool
	}
	var order []string
	var notes []string
	last := map[string]verdict{}
	for i, st := range doc.Statements {
		key := fmt.Sprintf("statements[%d]", i)
		var ids []string
		var vname string
		var vobj struct {
			Name    string   `json:"name"`
			ID      string   `json:"@id"`
			Aliases []string `json:"aliases"`
		}
		if json.Unmarshal(st.Vulnerability, &vname) == nil {
			ids = append(ids, vname)
		} else if err := json.Unmarshal(st.Vulnerability, &vobj); err == nil {
			ids = append(append(ids, vobj.Name, vobj.ID), vobj.Aliases...)
		} else {
			return nil, nil, &FieldError{File: name, Key: key + ".vulnerability", Msg: "want a name or an object with name, @id or aliases"}
		}
		ids = slices.DeleteFunc(ids, func(s string) bool { return strings.TrimSpace(s) == "" })
		if len(ids) == 0 {
			return nil, nil, &FieldError{File: name, Key: key + ".vulnerability", Msg: "missing: name the vulnerability"}
		}
		switch st.Status {
		case "not_affected":
			if st.Justification == "" && st.ImpactStatement == "" {
				return nil, nil, &FieldError{File: name, Key: key, Msg: "not_affected needs a justification or an impact_statement (OpenVEX spec)"}
			}
		case "fixed", "affected", "under_investigation":
		default:
			return nil, nil, &FieldError{File: name, Key: key + ".status", Msg: fmt.Sprintf("%q is not an OpenVEX status (not_affected, affected, fixed, under_investigation)", st.Status)}
		}
		if len(st.Products) == 0 {
			return nil, nil, &FieldError{File: name, Key: key + ".products", Msg: "missing: a statement applies to named products (the image as pkg:oci/..., or packages)"}
		}
		var scopes []scope
		skip := func(where string, c openvex.Component, why string) {
			notes = append(notes, fmt.Sprintf("%s (%s.%s): %s %s cannot be matched with the scan (%s): the statement does not apply to it",
				name, key, where, strings.Join(ids[:1], ""), describeComponent(c), why))
		}
		for j, raw := range st.Products {
			where := fmt.Sprintf("products[%d]", j)
			var c component
			var sid string
			if json.Unmarshal(raw, &sid) == nil {
				c.ID = sid // OpenVEX v0.0.1 names products by a string
			} else if err := json.Unmarshal(raw, &c); err != nil {
				return nil, nil, &FieldError{File: name, Key: key + "." + where, Msg: "want a product: an object with @id, identifiers or hashes"}
			}
			prod := c.Component
			switch kind, why := componentKind(prod, true); kind {
			case kindImage:
				if len(c.Subcomponents) == 0 {
					scopes = append(scopes, scope{product: &prod})
				}
				for k, sc := range c.Subcomponents {
					if sk, why := componentKind(sc, false); sk != kindPackage {
						skip(fmt.Sprintf("%s.subcomponents[%d]", where, k), sc, why)
						continue
					}
					scopes = append(scopes, scope{product: &prod, pkg: &sc})
				}
			case kindPackage:
				scopes = append(scopes, scope{pkg: &prod})
				for k, sc := range c.Subcomponents {
					if sk, why := componentKind(sc, false); sk != kindPackage {
						skip(fmt.Sprintf("%s.subcomponents[%d]", where, k), sc, why)
						continue
					}
					scopes = append(scopes, scope{pkg: &sc})
				}
			default:
				skip(where, prod, why)
			}
		}
		reason := st.ImpactStatement
		if reason == "" {
			reason = st.StatusNotes
		}
		if st.Justification != "" {
			if reason == "" {
				reason = "VEX " + st.Status + ": " + st.Justification
			} else {
				reason = st.Justification + ": " + reason
			}
		}
		if reason == "" {
			reason = "VEX: " + st.Status
		}
		for _, id := range ids {
			for _, sc := range scopes {
				k := strings.ToUpper(id) + "\x00" + componentKey(sc.product) + "\x00" + componentKey(sc.pkg)
				if _, seen := last[k]; !seen {
					order = append(order, k)
				}
				ex := Exception{ID: id, Reason: reason, Source: fmt.Sprintf("%s (%s)", name, key),
					VEXStatus: st.Status, Justification: st.Justification, VEXProduct: sc.product, VEXComponent: sc.pkg}
				ex.Product, ex.Package = displayPurl(sc.product), displayPurl(sc.pkg)
				last[k] = verdict{ex: ex, active: st.Status == "not_affected" || st.Status == "fixed"}
			}
		}
	}
	var out []Exception
	for _, k := range order {
		if v := last[k]; v.active {
			out = append(out, v.ex)
		}
	}
	return out, notes, nil
}

// What a VEX component names, for matching.
const (
	kindNone    = iota // nothing we can compare with a scan
	kindImage          // the scanned image
	kindPackage        // a package (findings carry its purl)
)

// componentPurls returns the purls of a component: its @id when that is a purl, and
// identifiers.purl.
func componentPurls(c openvex.Component) []string {
	var out []string
	if strings.HasPrefix(c.ID, "pkg:") {
		out = append(out, c.ID)
	}
	if p := c.Identifiers[openvex.PURL]; strings.HasPrefix(p, "pkg:") && p != c.ID {
		out = append(out, p)
	}
	return out
}

func isImagePurl(p string) bool {
	return strings.HasPrefix(p, "pkg:oci/") || strings.HasPrefix(p, "pkg:docker/")
}

// imageHashes are the hash algorithms an image digest can be given in.
var imageHashes = []openvex.Algorithm{openvex.SHA256, openvex.SHA512}

// componentKind says what a component names (product: a top-level product, which may
// be the image by its hash) and, for kindNone, why it cannot be matched.
func componentKind(c openvex.Component, product bool) (int, string) {
	purls := componentPurls(c)
	for _, p := range purls {
		if isImagePurl(p) {
			return kindImage, ""
		}
	}
	if len(purls) > 0 {
		return kindPackage, ""
	}
	if product {
		for _, a := range imageHashes {
			if c.Hashes[a] != "" {
				return kindImage, ""
			}
		}
	}
	switch {
	case c.Identifiers[openvex.CPE23] != "" || c.Identifiers[openvex.CPE22] != "":
		return kindNone, "named by CPE only; findings are identified by purl"
	case len(c.Hashes) > 0:
		return kindNone, "named by hashes only; package findings are identified by purl"
	case c.ID != "":
		return kindNone, "its @id is not a purl and it has no purl identifier"
	}
	return kindNone, "it has no @id, identifiers or hashes"
}

// describeComponent names a component in a note.
func describeComponent(c openvex.Component) string {
	if c.ID != "" {
		return fmt.Sprintf("product %q", c.ID)
	}
	b, _ := json.Marshal(c)
	return "product " + string(b)
}

// componentKey identifies a component for "the last statement wins".
func componentKey(c *openvex.Component) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// displayPurl is the purl a component is shown by: its first purl, else its @id.
func displayPurl(c *openvex.Component) string {
	if c == nil {
		return ""
	}
	if p := componentPurls(*c); len(p) > 0 {
		return p[0]
	}
	return c.ID
}

// vexPackageMatches compares a VEX package component with a finding, as go-vex's
// Component.Matches does (Trivy's VEX filter passes the package's purl the same way).
func vexPackageMatches(c *openvex.Component, f report.Finding) bool {
	return f.PURL != "" && c.Matches(f.PURL)
}

// vexImageMatches compares a VEX image component with the scanned image: any of its
// image purls (matchProduct, which normalises registries as the purl spec's oci and
// docker types mean them) or its sha-256/sha-512 hash against the image ID and
// repository digests.
func vexImageMatches(c *openvex.Component, sc Scope) bool {
	for _, p := range componentPurls(*c) {
		if isImagePurl(p) && matchProduct(p, sc) {
			return true
		}
	}
	for _, a := range imageHashes {
		h := strings.ToLower(string(c.Hashes[a]))
		if h == "" {
			continue
		}
		alg := strings.ReplaceAll(string(a), "-", "")
		if !strings.HasPrefix(h, alg+":") {
			h = alg + ":" + h
		}
		if slices.Contains(sc.Digests, h) {
			return true
		}
	}
	return false
}

// maxFileSize bounds the policy and import files read (they are small texts).
const maxFileSize = 4 << 20

// readLimited reads a policy or import file of at most maxFileSize bytes.
func readLimited(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", what, path, errors.Unwrap(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s %s is a folder: give a file", what, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", what, path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s %s is larger than %d MiB: is it the right file?", what, path, maxFileSize>>20)
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("%s %s is not a UTF-8 text file", what, path)
	}
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), nil
}

// Import formats, as ImportedFile.Format names them.
const (
	FormatAllowlist       = "container-scan allowedlist"
	FormatTrivyIgnore     = ".trivyignore"
	FormatTrivyIgnoreYAML = ".trivyignore.yaml"
	FormatOpenVEX         = "OpenVEX"
)

// AllowlistNames are the names Azure's container-scan action accepts for its allowlist
// in .github/containerscan/, in the order it tries them (allowedlist.yaml, then
// allowedlist.yml: Azure/container-scan#76).
var AllowlistNames = []string{"allowedlist.yaml", "allowedlist.yml"}

// TrivyIgnoreNames are the ignore files read from the working directory when there is
// no policy file: .trivyignore, Trivy's default --ignorefile, and the YAML format under
// both extensions Trivy reads as YAML (pkg/result.ParseIgnoreFile decides by the
// extension .yaml or .yml; Trivy itself reads them only when named by --ignorefile).
var TrivyIgnoreNames = []string{".trivyignore", ".trivyignore.yaml", ".trivyignore.yml"}

// Import is an import file to read: its path and format.
type Import struct {
	Path   string
	Format string
	Note   string // how it was found, when that is not obvious
}

// ImportedFile records an import file that was read, for `policy check` and the
// policy's JSON.
type ImportedFile struct {
	Path       string `json:"path"`
	Format     string `json:"format"`
	Exceptions int    `json:"exceptions"`     // entries read (a .trivyignore.yaml entry with several paths counts once per path)
	Note       string `json:"note,omitempty"` // e.g. which spelling was read in place of the one named
	// Notes are what the file holds that cannot apply (e.g. a VEX product named only by
	// a CPE); Evaluate repeats them in the verdict's notes.
	Notes []string `json:"notes,omitempty"`
}

// TrivyIgnoreFormat returns the format of a Trivy ignore file by its extension, as
// Trivy's pkg/result.ParseIgnoreFile decides: YAML for .yaml and .yml, else the
// line format.
func TrivyIgnoreFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return FormatTrivyIgnoreYAML
	}
	return FormatTrivyIgnore
}

// ResolveAllowlist returns the container-scan allowlist file that path names: path
// itself when it exists; for a folder, its allowedlist.yaml or allowedlist.yml (or
// those in its .github/containerscan/); for a missing allowedlist.yaml, the
// allowedlist.yml beside it (and the reverse), as container-scan falls back. note
// says what was read instead of what was named; err when nothing fits.
func ResolveAllowlist(path string) (found, note string, err error) {
	st, statErr := os.Stat(path)
	switch {
	case statErr == nil && !st.IsDir():
		return path, "", nil
	case statErr == nil:
		for _, dir := range []string{path, filepath.Join(path, ".github", "containerscan")} {
			for _, n := range AllowlistNames {
				if f := filepath.Join(dir, n); isFile(f) {
					return f, fmt.Sprintf("found in the folder %s", path), nil
				}
			}
		}
		return "", "", fmt.Errorf("allowlist %s is a folder with no %s in it or in its .github/containerscan/", path, strings.Join(AllowlistNames, " or "))
	}
	dir, base := filepath.Split(path)
	for i, n := range AllowlistNames {
		if strings.EqualFold(base, n) {
			other := filepath.Join(dir, AllowlistNames[1-i])
			if isFile(other) {
				return other, fmt.Sprintf("%s not found: read %s, as container-scan does", base, AllowlistNames[1-i]), nil
			}
		}
	}
	return "", "", fmt.Errorf("allowlist %s: no such file", path)
}

// FindImports lists the import files present where their own tools look for them,
// for a run without a policy file. dirs are the working directory and, when
// different, the git root; getenv reads the environment.
//
//   - Trivy: $TRIVY_IGNOREFILE when set (Trivy fails when a file it was told to read is
//     missing, and so does this), else the ignorefile key of Trivy's config file
//     ($TRIVY_CONFIG, default trivy.yaml in the working directory), else
//     TrivyIgnoreNames in the working directory. Trivy reads them relative to the
//     working directory only.
//   - Azure container-scan: .github/containerscan/ with AllowlistNames, in the working
//     directory, the git root, then $GITHUB_WORKSPACE (where the action reads it); the
//     first found is read, as the action reads one.
func FindImports(dirs []string, getenv func(string) string) ([]Import, error) {
	var out []Import
	wd := "."
	if len(dirs) > 0 {
		wd = dirs[0]
	}
	named, from := getenv("TRIVY_IGNOREFILE"), "TRIVY_IGNOREFILE"
	if named == "" {
		cfg := getenv("TRIVY_CONFIG")
		if cfg == "" {
			cfg = filepath.Join(wd, "trivy.yaml")
		}
		if isFile(cfg) {
			var conf struct {
				IgnoreFile string `yaml:"ignorefile"`
			}
			if data, err := readLimited(cfg, "Trivy config"); err == nil && decodeYAML(cfg, data, &conf) == nil && conf.IgnoreFile != "" {
				named, from = conf.IgnoreFile, "ignorefile in "+cfg
				if !filepath.IsAbs(named) {
					named = filepath.Join(wd, named)
				}
			}
		}
	}
	if named != "" {
		if !isFile(named) {
			return nil, fmt.Errorf("%s names %s: no such file (Trivy would fail too): fix it or unset it", from, named)
		}
		out = append(out, Import{Path: named, Format: TrivyIgnoreFormat(named), Note: "named by " + from})
	} else {
		for _, n := range TrivyIgnoreNames {
			if f := filepath.Join(wd, n); isFile(f) {
				out = append(out, Import{Path: f, Format: TrivyIgnoreFormat(f)})
			}
		}
	}
	places := append([]string{}, dirs...)
	if ws := getenv("GITHUB_WORKSPACE"); ws != "" {
		places = append(places, ws)
	}
	seen := map[string]bool{}
	for _, dir := range places {
		for _, n := range AllowlistNames {
			f := filepath.Join(dir, ".github", "containerscan", n)
			if abs, err := filepath.Abs(f); err == nil && seen[abs] {
				continue
			} else if err == nil {
				seen[abs] = true
			}
			if isFile(f) {
				return append(out, Import{Path: f, Format: FormatAllowlist}), nil
			}
		}
	}
	return out, nil
}

// LoadImport reads one import file in its format and records what was read.
func LoadImport(imp Import) ([]Exception, ImportedFile, error) {
	var ex []Exception
	var err error
	rec := ImportedFile{Path: imp.Path, Format: imp.Format, Note: imp.Note}
	switch imp.Format {
	case FormatAllowlist:
		path, note, rerr := ResolveAllowlist(imp.Path)
		if rerr != nil {
			return nil, rec, rerr
		}
		if note != "" {
			rec.Path, rec.Note = path, note
		}
		ex, err = LoadAllowlist(path)
	case FormatTrivyIgnore, FormatTrivyIgnoreYAML:
		ex, err = LoadTrivyIgnore(imp.Path)
	case FormatOpenVEX:
		ex, rec.Notes, err = loadOpenVEX(imp.Path)
	default:
		return nil, rec, fmt.Errorf("%s: unknown import format %q", imp.Path, imp.Format)
	}
	rec.Exceptions = len(ex)
	return ex, rec, err
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
