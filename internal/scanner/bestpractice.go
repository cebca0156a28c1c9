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
var dockleByDS = map[int]string{
	1:  "DKL-DI-0006", // ':latest' tag used            <- Avoid latest tag
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
			id = d
			aliases = append(aliases, m.ID)
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
