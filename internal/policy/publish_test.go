package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPublishAttach(t *testing.T) {
	load := func(body string) (Policy, error) {
		path := filepath.Join(t.TempDir(), ".secscan.yaml")
		if err := os.WriteFile(path, []byte("version: 1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(path, time.Now())
	}
	for body, want := range map[string]bool{"": false, "publish:\n  attach: true\n": true, "publish:\n  attach: false\n": false} {
		p, err := load(body)
		if err != nil || p.Attach != want {
			t.Errorf("%q: attach %v, %v; want %v", body, p.Attach, err, want)
		}
	}
	for body, want := range map[string]string{"publish:\n  attach: yes-please\n": ":3: publish: wrong type (string): want true or false", "publish:\n  attachments: true\n": "attachments"} {
		if _, err := load(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
