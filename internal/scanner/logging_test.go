package scanner

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aquasecurity/trivy/pkg/log"
)

// Issue 15, item 6: without --debug, Trivy's log lines never reach the user in
// Trivy's format ("2026-11-30T06:02:17Z WARN This OS version is no longer supported by
// the distribution family=alpine version=3.11.5"): what docker secscan says itself (an
// end-of-life OS: a policy note) is dropped, any other warning is one "note:" line, and
// information is dropped.
func TestLogsAreOurNotes(t *testing.T) {
	var buf bytes.Buffer
	l := log.New(newNoteHandler(&buf))
	l.Warn("This OS version is no longer supported by the distribution", log.String("family", "alpine"), log.String("version", "3.11.5"))
	l.Warn("The vulnerability detection may be insufficient because security updates are not provided")
	l.Warn("Unsupported os", log.String("family", "plan9"))
	l.Info("Detected OS", log.String("family", "alpine"))
	lp := l.With(log.String("prefix", "npm"), log.String("file", "app/package-lock.json"))
	lp.Warn("Unable to parse the lock file.")
	lp.Warn("Unable to parse the lock file.") // said once
	got := buf.String()
	want := "note: the scanner reported: Unable to parse the lock file (file app/package-lock.json) (run with --debug for its log)\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if strings.Contains(got, "WARN") || strings.Contains(got, "no longer supported") || strings.Contains(got, "may be insufficient") {
		t.Fatalf("Trivy's format or a covered message: %q", got)
	}
}
