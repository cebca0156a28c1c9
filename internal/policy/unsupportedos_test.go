package policy

import (
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// TestUnsupportedOS: an image whose OS packages were not checked (no vulnerability data
// covers its release) is not a clean scan: it blocks by default, as a scan that could
// not be completed, and gate.on-unsupported-os: warn lets it pass with a note; the
// verdict says why either way.
func TestUnsupportedOS(t *testing.T) {
	why := "no vulnerability data covers debian release bookworm/sid (debian bookworm/sid): Debian testing or unstable; its OS packages were not checked"
	s := scanOf(nil)
	s.Image.OS = "debian bookworm/sid"
	s.Packages = 88
	s.Image.Platforms = []report.Platform{{Platform: "linux/amd64", OS: "debian bookworm/sid", Packages: 88, OSUnchecked: why}}

	p := Defaults()
	if p.OnUnsupportedOS != ActionBlock {
		t.Fatalf("default on-unsupported-os %q, want block", p.OnUnsupportedOS)
	}
	v := p.Evaluate(s, now)
	if v.Pass || !strings.HasPrefix(v.Summary, "blocked: the OS packages were not checked") || !strings.Contains(v.Summary, "gate.on-unsupported-os") ||
		strings.Contains(v.Summary, "passed") || !strings.Contains(v.Summary, "also no finding (threshold: HIGH)") {
		t.Fatalf("default: %+v", v)
	}
	// Findings that block are still counted.
	s2 := s
	s2.Findings = findings()
	if v := p.Evaluate(s2, now); v.Pass || v.Blocking != 2 || !strings.Contains(v.Summary, "also 2 blocking findings") {
		t.Fatalf("with findings: %+v", v)
	}
	if !strings.Contains(strings.Join(v.Notes, "\n"), why) {
		t.Errorf("notes do not say why: %q", v.Notes)
	}

	p.Mode = ModeWarn // --mode warn lets findings through, not an unchecked image
	if v := p.Evaluate(s, now); v.Pass {
		t.Errorf("mode warn passed an unchecked image: %+v", v)
	}

	for _, file := range []string{"version: 1\ngate:\n  on-unsupported-os: warn\n", "version: 1\ngate:\n  on-unsupported-os: WARN\n"} {
		wp, err := Parse("p.yaml", []byte(file), now)
		if err != nil {
			t.Fatal(err)
		}
		v = wp.Evaluate(s, now)
		if !v.Pass || !strings.Contains(v.Summary, "NOT checked") || !strings.Contains(strings.Join(v.Notes, "\n"), why) {
			t.Fatalf("warn: %+v", v)
		}
	}
	if _, err := Parse("p.yaml", []byte("version: 1\ngate:\n  on-unsupported-os: off\n"), now); err == nil || !strings.Contains(err.Error(), "on-unsupported-os") {
		t.Errorf("on-unsupported-os: off accepted: %v", err)
	}

	// A covered release, or a scan kept from before (no OSUnchecked): nothing changes.
	s.Image.Platforms[0].OSUnchecked = ""
	if v := Defaults().Evaluate(s, now); !v.Pass || strings.Contains(v.Summary, "not checked") {
		t.Fatalf("covered: %+v", v)
	}

	// Multi-platform: the platform is named.
	s.Image.Platforms = []report.Platform{{Platform: "linux/amd64", OS: "debian 12.15", Packages: 88},
		{Platform: "linux/arm64", OS: "debian bookworm/sid", Packages: 88, OSUnchecked: why}}
	v = Defaults().Evaluate(s, now)
	if v.Pass || !strings.Contains(strings.Join(v.Notes, "\n"), "linux/arm64: "+why) {
		t.Fatalf("multi-platform: %+v", v)
	}
}
