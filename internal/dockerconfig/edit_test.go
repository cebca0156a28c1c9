package dockerconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const original = `{
	"auths": {
		"registry.example.com": {
			"auth": "c2VjcmV0OnBhc3N3b3Jk"
		}
	},
	"credsStore": "desktop",
	"plugins": {
		"other": {
			"hooks": "image ls",
			"x": "y"
		}
	},
	"features": {
		"buildkit": "true"
	},
	"currentContext": "remote"
}
`

func TestEditKeepsOtherBytes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(p, []byte(original), 0o600)
	err := Apply(p,
		Edit{Path: []string{"plugins", "secscan", "hooks"}, Value: "build,push"},
		Edit{Path: []string{"features", "hooks"}, Value: "true"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	got := string(b)
	for _, keep := range []string{
		"\"registry.example.com\": {\n\t\t\t\"auth\": \"c2VjcmV0OnBhc3N3b3Jk\"\n\t\t}",
		"\"other\": {\n\t\t\t\"hooks\": \"image ls\",\n\t\t\t\"x\": \"y\"\n\t\t}",
		"\"credsStore\": \"desktop\"", "\"currentContext\": \"remote\"", "\"buildkit\": \"true\"",
	} {
		if !strings.Contains(got, keep) {
			t.Fatalf("lost %q:\n%s", keep, got)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if s, _ := Lookup(p, "plugins", "secscan", "hooks"); s != "build,push" {
		t.Fatalf("hooks = %q", s)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	// Undo: back to the original bytes.
	if err := Apply(p, Edit{Path: []string{"plugins", "secscan"}}, Edit{Path: []string{"features", "hooks"}}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if string(b) != original {
		t.Fatalf("after disable:\n%s\nwant:\n%s", b, original)
	}
}

func TestEditMissingAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "config.json")
	if err := Apply(p, Edit{Path: []string{"features", "hooks"}, Value: "true"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := Lookup(p, "features", "hooks"); s != "true" {
		t.Fatalf("new file: %q", s)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if err := Apply(bad, Edit{Path: []string{"a"}, Value: "b"}); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("bad file: %v", err)
	}
	if b, _ := os.ReadFile(bad); string(b) != "{not json" {
		t.Fatal("a bad file was changed")
	}
	wrong := filepath.Join(dir, "wrong.json")
	os.WriteFile(wrong, []byte(`{"plugins": "x"}`), 0o600)
	if err := Apply(wrong, Edit{Path: []string{"plugins", "secscan", "hooks"}, Value: "b"}); err == nil {
		t.Fatal("a non-object plugins value was overwritten")
	}
}
