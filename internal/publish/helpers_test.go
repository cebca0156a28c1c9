package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rewriteSpool(t *testing.T, dir, from, to string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(f, []byte(strings.ReplaceAll(string(b), from, to)), 0o600)
	}
}
