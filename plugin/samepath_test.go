package plugin

import (
	"os"
	"path/filepath"
	"testing"
)

// Two report paths that name one file, however spelt, are the same file: one report
// must not silently overwrite the other.
func TestSamePath(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	_ = os.Mkdir("sub", 0o755)
	_ = os.Symlink("sub", "link")
	abs := filepath.Join(dir, "same.json")
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"./same.json", abs, true},
		{"same.json", "sub/../same.json", true},
		{"link/r.json", "sub/r.json", true},
		{"same.json", "other.json", false},
		{"sub/r.json", "r.json", false},
	} {
		if got := samePath(tc.a, tc.b); got != tc.want {
			t.Errorf("samePath(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
