package daemon

import (
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	good := map[string]string{
		"alpine":                      "docker.io/library/alpine:latest",
		"127.0.0.1:5000/team/app:1.2": "127.0.0.1:5000/team/app:1.2",
	}
	for in, want := range good {
		got, err := ParseReference(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseReference(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	bad := map[string]string{
		"Team/App:1":        "lower-case",
		"alpine@sha256:abc": "64 hex digits",
		"alpine:bad tag":    "invalid image reference",
		"":                  "invalid image reference",
	}
	for in, want := range bad {
		_, err := ParseReference(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseReference(%q) error = %v; want it to name the input and say %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseReference(%q) error spans lines: %q", in, err)
		}
	}
}

func TestIDPattern(t *testing.T) {
	for _, s := range []string{"0559369d3920", "sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"} {
		if !idPattern.MatchString(s) {
			t.Errorf("%q should look like an image ID", s)
		}
	}
	for _, s := range []string{"alpine", "abc", "0559369D3920"} {
		if idPattern.MatchString(s) {
			t.Errorf("%q should not look like an image ID", s)
		}
	}
}
