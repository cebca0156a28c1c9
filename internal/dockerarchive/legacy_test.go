package dockerarchive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func testdata(t *testing.T) string {
	dir := os.Getenv("SECSCAN_TESTDATA")
	if dir == "" {
		dir = "../../../shared/testdata"
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("test data not found at %s (set SECSCAN_TESTDATA)", dir)
	}
	return dir
}

// TestLegacyLayerDiffIDOnRealArchives reads real `docker save` archives (legacy layout,
// made by Docker) and checks that every "<v1 ID>/json" names the layer whose
// layer.tar it sits beside, as the SHA-256 of that layer.tar proves.
func TestLegacyLayerDiffIDOnRealArchives(t *testing.T) {
	archives, _ := filepath.Glob(filepath.Join(testdata(t), "images", "edge-cases", "layerscanning_image_*.tar"))
	checked := 0
	for _, a := range archives {
		entries := readTar(t, a)
		var manifest []struct{ Config string }
		if json.Unmarshal(entries["manifest.json"], &manifest) != nil || len(manifest) != 1 {
			continue // not an image (the empty tar)
		}
		var cfg struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal(entries[manifest[0].Config], &cfg); err != nil {
			t.Fatalf("%s: config: %v", a, err)
		}
		for name, b := range entries {
			if path.Base(name) != "json" || strings.Contains(path.Dir(name), "/") {
				continue
			}
			dir := path.Dir(name)
			layer, ok := entries[dir+"/layer.tar"]
			if !ok {
				continue
			}
			sum := sha256.Sum256(layer)
			want := "sha256:" + hex.EncodeToString(sum[:])
			if got := LegacyLayerDiffID(dir, b, cfg.RootFS.DiffIDs); got != want {
				t.Errorf("%s: %s/json names layer %q, its layer.tar is %s", filepath.Base(a), dir, got, want)
			}
			checked++
		}
	}
	if checked < 3 {
		t.Fatalf("checked only %d layers: the test data changed?", checked)
	}
	// Another image's layers, or a damaged entry, name no layer.
	if got := LegacyLayerDiffID(strings.Repeat("a", 64), []byte(`{"created":"1970-01-01T00:00:00Z"}`), []string{"sha256:" + strings.Repeat("b", 64)}); got != "" {
		t.Errorf("a foreign entry matched %s", got)
	}
	if got := LegacyLayerDiffID(strings.Repeat("a", 64), []byte(`not json`), []string{"sha256:" + strings.Repeat("b", 64)}); got != "" {
		t.Errorf("a damaged entry matched %s", got)
	}
}

func readTar(t *testing.T, p string) map[string][]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out[hdr.Name] = b
		}
	}
}
