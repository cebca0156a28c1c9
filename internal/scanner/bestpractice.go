package scanner

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// dockleByDS maps Trivy's Dockerfile check numbers (DS002 / AVD-DS-0002 / DS-0002),
// which Trivy runs on the Dockerfile it rebuilds from the image history and config, to
// the Dockle check that tests the same thing, so container-scan allowlists
// (bestPracticeViolations) keep working. Dockle checks with no Trivy counterpart:
// CIS-DI-0005 (content trust: a client setting, not an image property), CIS-DI-0008
// (setuid/setgid files), DKL-DI-0002 (sensitive directory mounts), DKL-DI-0005 (apt
// caches left behind), DKL-LI-0001 (empty passwords), DKL-LI-0002 (duplicate UIDs),
// DKL-LI-0003 (unnecessary files). CIS-DI-0010 (credentials in ENV) is also reported
// for what Trivy's image-config secret scanner finds; see secretDockleID.
//
// DS001 (a FROM with the latest tag) is not mapped to DKL-DI-0006: Dockle's check is about
// the tag of the image scanned, not of its base, and the Dockerfile Trivy rebuilds from
// the history has no FROM lines. Where a mapped check is broader than Dockle's (DS031,
// DS017), dockleVerdict keeps under the Dockle ID only what Dockle reports; the README
// lists where the two still differ.
var dockleByDS = map[int]string{
	2:  "CIS-DI-0001", // image user should not be root <- Create a user for the container
	5:  "CIS-DI-0009", // ADD instead of COPY           <- Use COPY instead of ADD
	10: "DKL-DI-0001", // RUN using sudo                <- Avoid sudo command
	17: "CIS-DI-0007", // 'RUN <pm> update' alone       <- Do not use update instructions alone
	24: "DKL-DI-0003", // 'apt-get dist-upgrade' used   <- Avoid apt-get dist-upgrade
	25: "DKL-DI-0004", // 'apk add' without --no-cache  <- Use apk add with --no-cache
	26: "CIS-DI-0006", // no HEALTHCHECK defined        <- Add HEALTHCHECK instruction
	31: "CIS-DI-0010", // secrets in ENV/ARG/files     <- Do not store credentials in ENV
}

// secretDockleID is Dockle's check for credentials in the image's environment
// variables or files; Trivy's image-config secret scanner reports the same.
const secretDockleID = "CIS-DI-0010"

var dsNumber = regexp.MustCompile(`DS-?0*(\d+)$`)

// DockleID returns the Dockle check ID for a Trivy Dockerfile check ID, or "".
func DockleID(trivyID string) string {
	m := dsNumber.FindStringSubmatch(trivyID)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[1])
	return dockleByDS[n]
}

// bestPracticeFindings converts the failed image-configuration checks and the secrets
// found in the image config of one Trivy result.
func bestPracticeFindings(r types.Result) []report.Finding {
	var out []report.Finding
	for _, m := range r.Misconfigurations {
		if m.Status != types.MisconfStatusFailure {
			continue
		}
		id, aliases := m.ID, []string{}
		if d := DockleID(m.ID); d != "" {
			switch dockleVerdict(d, m) {
			case dockleReports:
				id = d
				aliases = append(aliases, m.ID)
			case dockleNothing:
				continue
			}
		}
		// Every spelling of the Trivy ID users meet: DS-0026 (Trivy 0.74), DS026
		// (older Trivy, .trivyignore files), AVD-DS-0026 (the AVD ID).
		aliases = append(aliases, trivyIDForms(m.ID, m.AVDID)...)
		// Trivy's message says which instruction failed (e.g. which ENV variable names
		// a secret): without it, several failures of one check read alike.
		title := m.Title
		if m.Message != "" && m.Message != m.Title {
			title += ": " + strings.Join(strings.Fields(m.Message), " ")
		}
		out = append(out, report.Finding{
			Kind: report.KindBestPractice, VulnerabilityID: id, Aliases: aliases,
			Severity: severity(m.Severity), Title: title, PrimaryURL: m.PrimaryURL,
			Target: r.Target, Class: string(r.Class), Type: string(r.Type),
		})
	}
	for _, s := range r.Secrets {
		out = append(out, report.Finding{
			Kind: report.KindBestPractice, VulnerabilityID: secretDockleID, Aliases: []string{s.RuleID},
			Severity: severity(s.Severity), Title: "Secret in the image config: " + s.Title,
			Target: r.Target, Class: string(r.Class), Type: "secret",
		})
	}
	return out
}

// trivyIDForms returns the other spellings of a Dockerfile check ID ("DS-0026" ->
// "DS026", "AVD-DS-0026"), plus avdID, without the ID itself.
func trivyIDForms(id, avdID string) []string {
	var out []string
	add := func(s string) {
		if s != "" && s != id && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if m := dsNumber.FindStringSubmatch(id); m != nil {
		n, _ := strconv.Atoi(m[1])
		add(fmt.Sprintf("DS%03d", n))
		add(fmt.Sprintf("DS-%04d", n))
		add(fmt.Sprintf("AVD-DS-%04d", n))
	}
	add(avdID)
	return out
}

// What Dockle's check would make of a Trivy failure mapped to its ID.
const (
	dockleReports = iota // Dockle reports it too: the Dockle ID
	dockleOther          // Dockle would not, but Trivy's finding stands: Trivy's ID
	dockleNothing        // nothing is exposed (e.g. an empty value): not a finding
)

// dockleVerdict applies Dockle's own rule (goodwithtech/dockle pkg/assessor/manifest,
// v0.4.6 and later) to a failure of the Trivy check mapped to dockleID, as far as
// Trivy's finding shows it (its message and the Dockerfile line it points at):
//   - CIS-DI-0010 (DS031, secrets in ENV/ARG): Dockle reports a variable whose name
//     contains PASS, PASSWD, PASSWORD, SECRET, KEY, ACCESS or TOKEN (any case), except
//     GPG_KEY and GPG_KEYS, and whose value is not empty (goodwithtech/dockle#180).
//     An empty value exposes nothing and is not reported at all; a name Dockle does not
//     find suspicious (or accepts) stays under Trivy's ID, as do DS031's other
//     findings (secret files copied, credentials set up in RUN).
//   - CIS-DI-0007 (DS017, update alone): Dockle looks at apt-get/apt only: an
//     "apt-get update" not followed by an apt install or upgrade in the same line (split
//     at &&). Other package managers (apk, yum, dnf, zypper) stay under Trivy's ID.
//
// Other IDs are reported as Trivy finds them (see the README for the differences).
// When the finding does not show the line, Trivy's verdict stands under the Dockle ID.
func dockleVerdict(dockleID string, m types.DetectedMisconfiguration) int {
	switch dockleID {
	case "CIS-DI-0010":
		name, ok := ds031Variable(m.Message)
		if !ok {
			return dockleOther
		}
		if value, known := instructionValue(causeLines(m), name); known && value == "" {
			return dockleNothing
		}
		if dockleAcceptedEnv[name] || !dockleSuspiciousEnv.MatchString(name) {
			return dockleOther
		}
	case "CIS-DI-0007":
		lines := causeLines(m)
		if len(lines) == 0 {
			return dockleReports
		}
		for _, l := range lines {
			if dockleAptUpdateAlone(l) {
				return dockleReports
			}
		}
		return dockleOther
	}
	return dockleReports
}

// dockleSuspiciousEnv and dockleAcceptedEnv are Dockle's suspiciousEnvKey (matched as
// `.*(?i)KEY1|KEY2...`, i.e. anywhere in the name, in any case) and acceptanceEnvKey.
var (
	dockleSuspiciousEnv = regexp.MustCompile(`(?i)PASS|PASSWD|PASSWORD|SECRET|KEY|ACCESS|TOKEN`)
	dockleAcceptedEnv   = map[string]bool{"GPG_KEY": true, "GPG_KEYS": true}
)

// ds031Message reads the variable DS031 names: `Possible exposure of secret env "X" in ENV`.
var ds031Message = regexp.MustCompile(`secret env "([^"]+)" in (?:ENV|ARG)`)

func ds031Variable(msg string) (string, bool) {
	m := ds031Message.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// causeLines returns the Dockerfile lines a failure points at (Trivy's cause code).
func causeLines(m types.DetectedMisconfiguration) []string {
	var out []string
	for _, l := range m.CauseMetadata.Code.Lines {
		if l.IsCause || (m.CauseMetadata.StartLine > 0 && l.Number >= m.CauseMetadata.StartLine && l.Number <= m.CauseMetadata.EndLine) {
			out = append(out, l.Content)
		}
	}
	return out
}

// instructionValue finds the value of variable name in ENV or ARG instruction lines:
// NAME=VALUE words (quotes removed, as the Dockerfile reads them; Trivy writes the value
// of ENV lines it rebuilds from the history Go-quoted) or the old "ENV NAME VALUE" form.
// known is false when no line sets name.
func instructionValue(lines []string, name string) (value string, known bool) {
	for _, line := range lines {
		words := shellWords(line)
		if len(words) < 2 || (!strings.EqualFold(words[0], "ENV") && !strings.EqualFold(words[0], "ARG")) {
			continue
		}
		args := words[1:]
		for _, w := range args {
			if k, v, ok := strings.Cut(w, "="); ok && k == name {
				return v, true
			}
		}
		if strings.EqualFold(words[0], "ENV") && args[0] == name && !strings.Contains(args[0], "=") {
			return strings.Join(args[1:], " "), true
		}
		if strings.EqualFold(words[0], "ARG") && len(args) == 1 && args[0] == name {
			return "", true // ARG without a default
		}
	}
	return "", false
}

// shellWords splits a line into words at blanks outside quotes, removing the quotes
// ("..." with backslash escapes, '...' literal).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
		case c == '\'':
			inWord = true
			for i++; i < len(s) && s[i] != '\''; i++ {
				cur.WriteByte(s[i])
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// dockleAptUpdateAlone is Dockle's reducableAptGetUpdate on one RUN line: split at
// "&&", words at spaces; a part with two of apt-get, apt, update is an update; it is
// alone unless that part or a later one has two of apt-get, apt, install (or upgrade).
func dockleAptUpdateAlone(line string) bool {
	line = strings.TrimSpace(line)
	if len(line) > 4 && strings.EqualFold(line[:4], "RUN ") {
		line = line[4:]
	}
	update := false
	for _, part := range strings.Split(line, "&&") {
		words := strings.Fields(part)
		if !update && countOf(words, "apt-get", "apt", "update") >= 2 {
			update = true
		}
		if update && (countOf(words, "apt-get", "apt", "install") >= 2 || countOf(words, "apt-get", "apt", "upgrade") >= 2) {
			return false
		}
	}
	return update
}

// countOf counts how many of needles are among words (each once), as Dockle's
// containsThreshold does.
func countOf(words []string, needles ...string) int {
	n := 0
	for _, x := range needles {
		if slices.Contains(words, x) {
			n++
		}
	}
	return n
}
