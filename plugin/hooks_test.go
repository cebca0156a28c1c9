package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli-plugins/hooks"
)

func TestHookHint(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	tests := []struct {
		req  hooks.Request
		want string
	}{
		{hooks.Request{RootCmd: "build", Flags: map[string]string{"tag": ""}}, "docker secscan push NAME:TAG (the tag you just built)"},
		{hooks.Request{RootCmd: "buildx build", Flags: map[string]string{"t": ""}}, "docker secscan push NAME:TAG"},
		{hooks.Request{RootCmd: "build"}, "docker secscan build -t NAME:TAG --push ."},
		{hooks.Request{RootCmd: "push"}, "{{arg . 0}} was pushed without a vulnerability gate"},
		{hooks.Request{RootCmd: "image push"}, "docker secscan push {{arg . 0}}"},
		{hooks.Request{RootCmd: "push", CommandError: "denied"}, ""},
		{hooks.Request{RootCmd: "image ls"}, ""},
		{hooks.Request{RootCmd: "buildx build", Flags: map[string]string{"t": "", "push": ""}}, "pushed the image without a vulnerability gate"},
		{hooks.Request{RootCmd: "push", Flags: map[string]string{"all-tags": ""}}, "docker secscan push {{arg . 0}}:TAG"},
	}
	for _, tt := range tests {
		got := hookHint(tt.req, dir, now)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("hookHint(%+v) = %q, want it to contain %q", tt.req, got, tt.want)
		}
	}
	// A recent verdict is mentioned; template syntax in it is defused.
	os.MkdirAll(filepath.Join(dir, "results"), 0o700)
	os.WriteFile(filepath.Join(dir, "results", "k.json"), []byte(`{"reference":"app:{{1}}","summary":"blocked: 2 findings","at":"`+now.Add(-time.Minute).UTC().Format(time.RFC3339)+`"}`), 0o600)
	got := hookHint(hooks.Request{RootCmd: "push"}, dir, now)
	if !strings.Contains(got, "Last docker secscan verdict, for app:{ {1} } (") || !strings.Contains(got, "blocked: 2 findings") {
		t.Errorf("hint with verdict: %q", got)
	}
}
