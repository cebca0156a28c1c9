package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	openvex "github.com/openvex/go-vex/pkg/vex"
	"github.com/package-url/packageurl-go"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// DefaultFileName is the policy file looked up in the working directory, then in the
// git root.
const DefaultFileName = ".secscan.yaml"

// Action is what the gate does with a class of findings or a condition.
type Action string

// Actions. Not every setting takes every action; see File.
const (
	ActionBlock Action = "block"
	ActionWarn  Action = "warn"
	ActionOff   Action = "off"
	// ActionError and ActionIgnore are what gate.baseline-missing takes.
	ActionError  Action = "error"
	ActionIgnore Action = "ignore"
)

// File is the policy file's schema (.secscan.yaml). Keys are kebab-case; unknown keys
// are errors. See the README for a commented example.
type File struct {
	Version int `yaml:"version"` // 1

	Gate struct {
		Block         string `yaml:"block"`          // lowest severity that blocks (default HIGH)
		Warn          string `yaml:"warn"`           // lowest severity that warns (below block); empty: none
		OnlyFixed     *bool  `yaml:"only-fixed"`     // only findings with a fixed version block (default false)
		OnScanError   string `yaml:"on-scan-error"`  // block (default) or warn: push unscanned with a warning
		MaxDBAge      string `yaml:"max-db-age"`     // e.g. 72h, 7d; empty: no limit
		OnStaleDB     string `yaml:"on-stale-db"`    // block (default) or warn
		BestPractices string `yaml:"best-practices"` // block, warn (default) or off
		// block, warn (default) or off: secrets (keys, tokens, passwords) in the image's
		// files, found by Trivy's secret scanner; off does not run the scanner at all
		Secrets string `yaml:"secrets"`
		// Trivy's secret-config file (custom rules, allow rules, disable-rules), relative
		// to the policy file; default: trivy-secret.yaml in the working directory
		SecretConfig string `yaml:"secret-config"`
		// block (default) or warn: an image whose OS no vulnerability data covers (its OS
		// packages could not be checked) is treated as a scan that could not be completed
		OnUnsupportedOS string `yaml:"on-unsupported-os"`
		// true: only findings that are new against the baseline (--baseline) block or
		// warn; those the baseline has too are reported, not counted (default false)
		NewOnly *bool `yaml:"new-only"`
		// error (default) or ignore: what a baseline that cannot be read does (ignore:
		// a note, and the gate decides as without a baseline)
		BaselineMissing string `yaml:"baseline-missing"`
	} `yaml:"gate"`

	Exceptions []FileException `yaml:"exceptions"`

	ExceptionRules struct {
		MaxHorizon string `yaml:"max-horizon"` // longest allowed time to expiry, e.g. 90d (default 365d)
		WarnBefore string `yaml:"warn-before"` // warn this long before expiry (default 14d)
	} `yaml:"exception-rules"`

	// DB sets where the vulnerability DB and the Java DB are downloaded from, for
	// everyone who uses this policy ($SECSCAN_DB_REPOSITORY and the flags win).
	DB struct {
		Repository     StringList `yaml:"repository"`      // OCI repositories of the DB, tried in order
		JavaRepository StringList `yaml:"java-repository"` // the same for the Java DB
	} `yaml:"db"`

	// Scan sets how images are scanned, for everyone who uses this policy (flags and
	// environment win): through a Trivy server, with a Redis cache, and whether the
	// local cache folder may stand in for a Redis cache that does not answer.
	Scan struct {
		Server        string `yaml:"server"`         // Trivy server URL, as --server
		CacheBackend  string `yaml:"cache-backend"`  // fs or redis://HOST:PORT, as --cache-backend
		CacheFallback string `yaml:"cache-fallback"` // local: use the cache folder when Redis is down (default none: an error)
	} `yaml:"scan"`

	// Publish sets what a push leaves beside the image.
	Publish struct {
		// true: attach the scan, the SBOM and the verdict to the pushed digest as OCI
		// referrers, as --attach (default false)
		Attach *bool `yaml:"attach"`
	} `yaml:"publish"`

	Imports struct {
		Allowlist   string   `yaml:"allowlist"`   // Azure container-scan allowedlist.yaml
		TrivyIgnore []string `yaml:"trivyignore"` // .trivyignore or .trivyignore.yaml files
		VEX         []string `yaml:"vex"`         // OpenVEX documents
	} `yaml:"imports"`
}

// StringList is a list of texts written as a YAML list or as one comma-separated text
// (as Trivy's TRIVY_DB_REPOSITORY).
type StringList []string

// UnmarshalYAML accepts a text or a list of texts.
func (l *StringList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = SplitList(one)
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return fmt.Errorf("want a text or a list of texts")
	}
	*l = nil
	for _, m := range many {
		*l = append(*l, SplitList(m)...)
	}
	if len(*l) == 0 && len(many) > 0 {
		*l = StringList{""}
	}
	return nil
}

// SplitList splits a comma-separated list, trimming spaces; an empty item is kept
// (as "") so that validation can name it.
func SplitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// FileException is one exception as written in the policy file.
type FileException struct {
	ID      string `yaml:"id"`      // CVE, GHSA, advisory or best-practice check ID (required)
	Package string `yaml:"package"` // package name or purl
	Path    string `yaml:"path"`    // file path (glob) inside the image
	Image   string `yaml:"image"`   // image repository, e.g. registry.example.com/team/app
	Reason  string `yaml:"reason"`  // required
	Expires string `yaml:"expires"` // YYYY-MM-DD (00:00 UTC) or RFC 3339 time; required
	Owner   string `yaml:"owner"`
	Ticket  string `yaml:"ticket"`
}

// Policy is a validated policy, ready to evaluate.
type Policy struct {
	Source        string           `json:"source"` // the file it came from, or "defaults"
	Block         report.Severity  `json:"block"`
	Warn          *report.Severity `json:"warn,omitempty"`
	OnlyFixed     bool             `json:"onlyFixed"`
	OnScanError   Action           `json:"onScanError"`
	MaxDBAge      time.Duration    `json:"maxDBAge,omitempty"`
	OnStaleDB     Action           `json:"onStaleDB"`
	BestPractices Action           `json:"bestPractices"`
	Secrets       Action           `json:"secrets"`
	// SecretConfig is the policy's gate.secret-config, made absolute ("" for none).
	SecretConfig string        `json:"secretConfig,omitempty"`
	Mode         Mode          `json:"mode"`
	MaxHorizon   time.Duration `json:"maxHorizon"`
	WarnBefore   time.Duration `json:"warnBefore"`
	Exceptions   []Exception   `json:"exceptions"`
	// OnUnsupportedOS is what an image whose OS packages could not be checked (no
	// vulnerability data for its OS release, report.Scan.UncheckedOS) does to the gate.
	OnUnsupportedOS Action `json:"onUnsupportedOS"`
	// NewOnly (gate.new-only): with a baseline, only new findings block or warn; a
	// vulnerability the baseline has too is InBaseline (reported, not counted).
	NewOnly bool `json:"newOnly"`
	// BaselineMissing (gate.baseline-missing) is what a baseline that cannot be read
	// does: ActionError (exit 1, nothing pushed) or ActionIgnore (a note, no baseline).
	BaselineMissing Action `json:"baselineMissing"`
	// DBServer is the Trivy server whose DB the scan used (set by the caller, "" for
	// the local DB): the stale-DB notes then say to update the server's DB, which
	// 'docker secscan db update' does not touch.
	DBServer string `json:"-"`
	// DBRepositories and JavaDBRepositories are the policy's db.repository and
	// db.java-repository: where the DBs come from unless the environment or a flag
	// says otherwise.
	DBRepositories     []string `json:"dbRepositories,omitempty"`
	JavaDBRepositories []string `json:"javaDBRepositories,omitempty"`
	// Server, CacheBackend and CacheFallback are the policy's scan.server,
	// scan.cache-backend and scan.cache-fallback ("local" or "").
	Server        string `json:"server,omitempty"`
	CacheBackend  string `json:"cacheBackend,omitempty"`
	CacheFallback string `json:"cacheFallback,omitempty"`
	// Attach is publish.attach: a push attaches its scan records to the pushed digest.
	Attach bool `json:"attach,omitempty"`
	// Imported lists the import files read (allowlist, .trivyignore, VEX), in order.
	Imported []ImportedFile `json:"imported,omitempty"`

	index map[string][]int // set by Evaluate: exception positions by upper-case ID
}

// Exception suppresses matching findings until it expires.
type Exception struct {
	ID            string    `json:"id"`
	Package       string    `json:"package,omitempty"`
	Path          string    `json:"path,omitempty"`
	Image         string    `json:"image,omitempty"`
	Reason        string    `json:"reason"`
	Expires       time.Time `json:"expires,omitzero"` // zero: never (only imports without a date)
	Owner         string    `json:"owner,omitempty"`
	Ticket        string    `json:"ticket,omitempty"`
	Source        string    `json:"source"`                  // "file:line"
	Product       string    `json:"product,omitempty"`       // VEX product purl of the image (pkg:oci/..., pkg:docker/...)
	VEXStatus     string    `json:"vexStatus,omitempty"`     // not_affected or fixed, for VEX statements
	Justification string    `json:"justification,omitempty"` // VEX justification

	// VEXProduct and VEXComponent are a VEX statement's image product and package
	// (OpenVEX components: @id, identifiers, hashes); when set, they are what matches,
	// and Product and Package only show their first purl.
	VEXProduct   *openvex.Component `json:"vexProduct,omitempty"`
	VEXComponent *openvex.Component `json:"vexComponent,omitempty"`
}

// Defaults returns the policy used when there is no file: block HIGH and above, every
// finding counts, scan errors and a stale DB block, best practices warn, exceptions may
// run at most 365 days and warn 14 days before expiry.
func Defaults() Policy {
	return Policy{
		Source:        "defaults",
		Block:         report.SeverityHigh,
		OnScanError:   ActionBlock,
		OnStaleDB:     ActionBlock,
		BestPractices: ActionWarn,
		Secrets:       ActionWarn,
		Mode:          ModeBlock,
		MaxHorizon:    365 * 24 * time.Hour,
		WarnBefore:    14 * 24 * time.Hour,

		// An OS release no vulnerability data covers blocks, as a failed scan does.
		OnUnsupportedOS: ActionBlock,
		// A baseline that cannot be read is an error, as any bad input.
		BaselineMissing: ActionError,
	}
}

// FieldError is a policy problem at a place in a file.
type FieldError struct {
	File string
	Line int    // 0 when unknown
	Key  string // YAML path, e.g. exceptions[2].expires
	Msg  string
}

func (e *FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Load reads and validates a policy file (now is used to check expiry horizons).
// Imports named in the file are read relative to the file's folder.
// Errors are *FieldError naming file, line and key.
func Load(path string, now time.Time) (Policy, error) {
	data, err := readLimited(path, "policy file")
	if err != nil {
		return Policy{}, err
	}
	return Parse(path, data, now)
}

// Parse validates policy file content; name is used in errors and as the base folder
// for imports.
func Parse(name string, data []byte, now time.Time) (Policy, error) {
	p := Defaults()
	p.Source = name
	var f File
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if multiDoc.Match(data) {
		return p, &FieldError{File: name, Msg: "holds more than one YAML document (---): keep one policy per file"}
	}
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := decodeYAML(name, data, &f, yaml.Strict()); err != nil {
			return p, err
		}
	}
	v := &validator{name: name, data: data}
	if f.Version != 0 && f.Version != 1 {
		v.fail("version", "unsupported version %d: use 1", f.Version)
	}
	if f.Gate.Block != "" {
		p.Block = v.severity("gate.block", f.Gate.Block)
	}
	if f.Gate.Warn != "" {
		s := v.severity("gate.warn", f.Gate.Warn)
		if s >= p.Block {
			v.fail("gate.warn", "%s is not below gate.block (%s): the warn band must be less severe", s, p.Block)
		}
		p.Warn = &s
	}
	if f.Gate.OnlyFixed != nil {
		p.OnlyFixed = *f.Gate.OnlyFixed
	}
	p.OnScanError = v.action("gate.on-scan-error", f.Gate.OnScanError, p.OnScanError, ActionBlock, ActionWarn)
	p.OnStaleDB = v.action("gate.on-stale-db", f.Gate.OnStaleDB, p.OnStaleDB, ActionBlock, ActionWarn)
	p.OnUnsupportedOS = v.action("gate.on-unsupported-os", f.Gate.OnUnsupportedOS, p.OnUnsupportedOS, ActionBlock, ActionWarn)
	p.BestPractices = v.action("gate.best-practices", f.Gate.BestPractices, p.BestPractices, ActionBlock, ActionWarn, ActionOff)
	p.Secrets = v.action("gate.secrets", f.Gate.Secrets, p.Secrets, ActionBlock, ActionWarn, ActionOff)
	if f.Gate.NewOnly != nil {
		p.NewOnly = *f.Gate.NewOnly
	}
	p.BaselineMissing = v.action("gate.baseline-missing", f.Gate.BaselineMissing, p.BaselineMissing, ActionError, ActionIgnore)
	if f.Gate.MaxDBAge != "" {
		p.MaxDBAge = v.duration("gate.max-db-age", f.Gate.MaxDBAge)
	}
	p.DBRepositories = v.repositories("db.repository", f.DB.Repository)
	p.JavaDBRepositories = v.repositories("db.java-repository", f.DB.JavaRepository)
	p.Attach = f.Publish.Attach != nil && *f.Publish.Attach
	p.Server, p.CacheBackend, p.CacheFallback = v.scanSettings(f.Scan.Server, f.Scan.CacheBackend, f.Scan.CacheFallback)
	if f.ExceptionRules.MaxHorizon != "" {
		p.MaxHorizon = v.duration("exception-rules.max-horizon", f.ExceptionRules.MaxHorizon)
	}
	if f.ExceptionRules.WarnBefore != "" {
		p.WarnBefore = v.duration("exception-rules.warn-before", f.ExceptionRules.WarnBefore)
	}
	for i, fe := range f.Exceptions {
		key := fmt.Sprintf("exceptions[%d]", i)
		e := Exception{ID: strings.TrimSpace(fe.ID), Package: fe.Package, Path: fe.Path, Image: fe.Image,
			Reason: strings.TrimSpace(fe.Reason), Owner: fe.Owner, Ticket: fe.Ticket, Source: v.source(key)}
		if e.ID == "" {
			v.fail(key+".id", "missing: name the CVE, GHSA, advisory or check ID")
		}
		if e.Reason == "" {
			v.fail(key+".reason", "missing: say why this finding is accepted")
		}
		if fe.Expires == "" {
			v.fail(key+".expires", "missing: give a date (YYYY-MM-DD) within %s", days(p.MaxHorizon))
		} else if t, err := ParseExpiry(fe.Expires); err != nil {
			v.fail(key+".expires", "%v", err)
		} else {
			e.Expires = t
			if t.Sub(now) > p.MaxHorizon {
				v.fail(key+".expires", "%s is more than %s away (exception-rules.max-horizon): choose an earlier date", fe.Expires, days(p.MaxHorizon))
			}
		}
		if e.Path != "" && !validGlob(e.Path) {
			v.fail(key+".path", "%q is not a valid glob", e.Path)
		}
		if e.Image != "" {
			if _, err := reference.ParseNormalizedNamed(e.Image); err != nil {
				v.fail(key+".image", "%q is not an image repository (e.g. registry.example.com/team/app): %v", e.Image, err)
			}
		}
		if strings.HasPrefix(e.Package, "pkg:") {
			if _, err := packageurl.FromString(e.Package); err != nil {
				v.fail(key+".package", "%q is not a valid purl: %v", e.Package, err)
			}
		}
		p.Exceptions = append(p.Exceptions, e)
	}
	base := filepath.Dir(name)
	rel := func(s string) string {
		if filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(base, s)
	}
	if f.Gate.SecretConfig != "" {
		p.SecretConfig = rel(f.Gate.SecretConfig)
		if abs, err := filepath.Abs(p.SecretConfig); err == nil {
			p.SecretConfig = abs
		}
		if st, err := os.Stat(p.SecretConfig); err != nil || !st.Mode().IsRegular() {
			v.fail("gate.secret-config", "%s is not a file: name Trivy's secret-config file (e.g. trivy-secret.yaml)", p.SecretConfig)
		}
	}
	if v.err == nil {
		// Named imports are read as named (a folder or the other spelling of
		// allowedlist.yaml/.yml is resolved as container-scan does: ResolveAllowlist).
		var imps []Import
		if f.Imports.Allowlist != "" {
			imps = append(imps, Import{Path: rel(f.Imports.Allowlist), Format: FormatAllowlist})
		}
		for _, ti := range f.Imports.TrivyIgnore {
			imps = append(imps, Import{Path: rel(ti), Format: TrivyIgnoreFormat(ti)})
		}
		for _, vx := range f.Imports.VEX {
			imps = append(imps, Import{Path: rel(vx), Format: FormatOpenVEX})
		}
		for _, imp := range imps {
			ex, rec, err := LoadImport(imp)
			v.addErr(err)
			if err == nil {
				p.Imported = append(p.Imported, rec)
			}
			p.Exceptions = append(p.Exceptions, ex...)
		}
	}
	// Dated imports obey the horizon too (undated formats cannot: they are noted).
	if v.err == nil && len(p.Exceptions) > len(f.Exceptions) {
		for _, e := range p.Exceptions[len(f.Exceptions):] {
			if !e.Expires.IsZero() && e.Expires.Sub(now) > p.MaxHorizon {
				return p, &FieldError{File: e.Source, Key: e.ID, Msg: fmt.Sprintf("expires %s, more than %s away (exception-rules.max-horizon of %s): choose an earlier date", e.Expires.UTC().Format(time.DateOnly), days(p.MaxHorizon), name)}
			}
		}
	}
	return p, v.err
}

// ParseExpiry reads an expiry: a date YYYY-MM-DD, meaning 00:00:00 UTC of that day (as
// Trivy's .trivyignore exp: does), or an RFC 3339 time with its zone. An exception
// applies while now is before its expiry.
func ParseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date: use YYYY-MM-DD (or an RFC 3339 time)", s)
}

// multiDoc finds a second YAML document: a "---" line after some content.
var multiDoc = regexp.MustCompile(`(?m)\S[\s\S]*^---\s*$[\s\S]*\S`)

var durationPattern = regexp.MustCompile(`^(\d+)d$`)

// ParseDuration reads Go durations (72h, 90m) and whole days (7d).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if m := durationPattern.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q is too long", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration: use e.g. 72h or 7d", s)
	}
	return d, nil
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// validator collects the first error with its place in the file.
type validator struct {
	name string
	data []byte
	file *ast.File
	err  error
}

func (v *validator) line(key string) (line int) {
	defer func() {
		if recover() != nil {
			line = 0
		}
	}()
	if v.file == nil {
		f, err := parser.ParseBytes(v.data, 0)
		if err != nil {
			return 0
		}
		v.file = f
	}
	p, err := yaml.PathString("$." + key)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(v.file)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func (v *validator) source(key string) string {
	if l := v.line(key + ".id"); l > 0 {
		return fmt.Sprintf("%s:%d", v.name, l)
	}
	return v.name
}

func (v *validator) fail(key, format string, a ...any) {
	if v.err != nil {
		return
	}
	line := 0
	// A missing key has no line: fall back to its parent's (exceptions[0].reason ->
	// exceptions[0]).
	for k := key; line == 0 && k != ""; {
		line = v.line(k)
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	v.err = &FieldError{File: v.name, Line: line, Key: key, Msg: fmt.Sprintf(format, a...)}
}

func (v *validator) addErr(err error) {
	if v.err == nil && err != nil {
		v.err = err
	}
}

func (v *validator) severity(key, s string) report.Severity {
	sev, err := report.ParseSeverity(s)
	if err != nil {
		v.fail(key, "%v", err)
	}
	return sev
}

// repositories checks OCI repository references (REGISTRY/REPOSITORY[:TAG]).
func (v *validator) repositories(key string, refs []string) []string {
	for i, r := range refs {
		if r == "" {
			v.fail(key, "item %d is empty: give REGISTRY/REPOSITORY[:TAG]", i+1)
			return nil
		}
		if _, err := name.NewRepository(r); err == nil {
			continue
		}
		if _, err := name.ParseReference(r); err != nil {
			v.fail(key, "%q is not an OCI repository (want REGISTRY/REPOSITORY[:TAG]): %v", r, err)
			return nil
		}
	}
	return refs
}

func (v *validator) duration(key, s string) time.Duration {
	d, err := ParseDuration(s)
	if err != nil {
		v.fail(key, "%v", err)
	}
	return d
}

func (v *validator) action(key, s string, def Action, allowed ...Action) Action {
	if s == "" {
		return def
	}
	for _, a := range allowed {
		if Action(strings.ToLower(strings.TrimSpace(s))) == a {
			return a
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	v.fail(key, "%q is not one of %s", s, strings.Join(names, ", "))
	return def
}

// decodeYAML decodes data into v, turning go-yaml errors into one-line FieldErrors.
// go-yaml v1.19 panics on some malformed input (found by fuzzing: a tag such as "!000"
// on a sequence); that is reported as an error too, never a crash.
func decodeYAML(name string, data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &FieldError{File: name, Msg: "the YAML could not be decoded (malformed tags or structure)"}
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, v, opts...); err != nil {
		return yamlError(name, err)
	}
	return nil
}

// yamlError turns a go-yaml error into a one-line FieldError with the line.
func yamlError(name string, err error) error {
	fe := &FieldError{File: name, Msg: strings.Join(strings.Fields(err.Error()), " ")}
	if m := yamlPos.FindStringSubmatch(err.Error()); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = strings.Join(strings.Fields(m[3]), " ")
	}
	if m := typeErr.FindStringSubmatch(fe.Msg); m != nil {
		want := map[string]string{"bool": "true or false", "string": "a text value", "int": "a whole number", "[]string": "a list of texts"}[m[3]]
		if want == "" {
			want = "a " + m[3]
		}
		got := m[1]
		switch {
		case strings.HasPrefix(got, "map["):
			got = "a mapping"
		case strings.HasPrefix(got, "[]"):
			got = "a list"
		}
		fe.Key = strings.ToLower(m[2][strings.Index(m[2], ".")+1:])
		fe.Msg = fmt.Sprintf("wrong type (%s): want %s", got, want)
	}
	if strings.Contains(fe.Msg, "already defined at") {
		fe.Msg = "duplicate key: " + fe.Msg
	}
	return fe
}

// typeErr is go-yaml's type mismatch message.
var typeErr = regexp.MustCompile(`cannot unmarshal (.+?) into Go struct field (\S+) of type (\S+)`)

// go-yaml formats errors as "[line:column] message" followed by the source excerpt.
var yamlPos = regexp.MustCompile(`^\[(\d+):(\d+)\] ([^\n]*)`)

// MarshalJSON writes durations as "72h0m0s"-style strings ("" for none), for
// `docker secscan policy check`.
func (p Policy) MarshalJSON() ([]byte, error) {
	type plain Policy
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return days(d)
	}
	return json.Marshal(struct {
		plain
		MaxDBAge   string `json:"maxDBAge,omitempty"`
		MaxHorizon string `json:"maxHorizon"`
		WarnBefore string `json:"warnBefore"`
	}{plain(p), dur(p.MaxDBAge), dur(p.MaxHorizon), dur(p.WarnBefore)})
}
