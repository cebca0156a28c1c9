package publish

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

// TestEnvelopeSaysTheOSPackagesWereNotChecked: an image whose OS release no
// vulnerability data covers is not published as a clean scan: the event says the OS
// packages were not checked, and why.
func TestEnvelopeSaysTheOSPackagesWereNotChecked(t *testing.T) {
	cs, _ := ParseConnectionString(ikey)
	props := func(ev ScanEvent) map[string]string {
		b, _ := json.Marshal(Envelope(ev, cs, time.Unix(0, 0)))
		var got struct {
			Data struct {
				BaseData struct{ Properties map[string]string }
			}
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		return got.Data.BaseData.Properties
	}
	ev := event(0)
	if p := props(ev); p["image.osPackagesChecked"] != "" || p["image.osUnchecked"] != "" {
		t.Fatalf("a checked image: %v", p)
	}
	why := "no vulnerability data covers debian release bookworm/sid (debian bookworm/sid): Debian testing or unstable; its OS packages were not checked"
	ev.Scan.Image.OS = "debian bookworm/sid"
	ev.Scan.Image.Platforms = []report.Platform{{Platform: "linux/amd64", OS: "debian bookworm/sid", Packages: 88, OSUnchecked: why}}
	p := props(ev)
	if p["image.osPackagesChecked"] != "false" || !strings.Contains(p["image.osUnchecked"], "Debian testing") {
		t.Fatalf("properties: %v", p)
	}
}
