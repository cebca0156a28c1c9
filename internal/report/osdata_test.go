package report

import (
	"strings"
	"testing"
)

func TestUncheckedOS(t *testing.T) {
	s := Scan{Image: Image{Platforms: []Platform{{Platform: "linux/amd64", OS: "debian bookworm/sid", Layers: 1, OSUnchecked: "no data"}}}}
	if u := s.UncheckedOS(); len(u) != 1 || u[0] != "no data" {
		t.Fatalf("one platform: %q", u)
	}
	if d := s.Image.Platforms[0].Describe(); !strings.Contains(d, "debian bookworm/sid (OS packages NOT checked") {
		t.Fatalf("Describe: %q", d)
	}
	s.Image.Platforms = append(s.Image.Platforms, Platform{Platform: "linux/arm64", OS: "debian 12.15"})
	if u := s.UncheckedOS(); len(u) != 1 || u[0] != "linux/amd64: no data" {
		t.Fatalf("two platforms: %q", u)
	}
	if d := s.Image.Platforms[1].Describe(); strings.Contains(d, "NOT checked") {
		t.Fatalf("Describe of a checked platform: %q", d)
	}
	if u := (Scan{}).UncheckedOS(); u != nil {
		t.Fatalf("no platforms: %q", u)
	}
}
