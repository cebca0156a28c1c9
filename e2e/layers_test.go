//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// layEntry is one entry of a hand-made layer: kind "dir", "file", "symlink" or
// "hardlink" (data: a file's content, a link's target).
type layEntry struct{ name, kind, data string }

// layTar writes a layer tar of the entries, in order.
func layTar(t *testing.T, entries ...layEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Format: tar.FormatPAX}
		switch e.kind {
		case "dir":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case "symlink":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.data, 0o777
		case "hardlink":
			h.Typeflag, h.Linkname = tar.TypeLink, e.data
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// layArchive writes a `docker load` archive (Docker's legacy layout, as make_image.py
// of the case writes) of a FROM-scratch image of these layers, tagged tag, and returns
// its path and image ID.
func layArchive(t *testing.T, tag string, layers ...[]byte) (string, string) {
	t.Helper()
	digest := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	var diffIDs, names []string
	var history []map[string]string
	for i, l := range layers {
		diffIDs = append(diffIDs, "sha256:"+digest(l))
		names = append(names, fmt.Sprintf("l%d/layer.tar", i+1))
		history = append(history, map[string]string{"created": "2023-11-14T22:13:20Z", "created_by": fmt.Sprintf("layer %d", i+1)})
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"/app"}},
		"created": "2023-11-14T22:13:20Z", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}, "history": history})
	cfgName := digest(cfg) + ".json"
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": names}})
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(data)
	}
	add(cfgName, cfg)
	for i, l := range layers {
		add(names[i], l)
	}
	add("manifest.json", man)
	_ = tw.Close()
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, "sha256:" + digest(cfg)
}

// layJavaDB puts an empty Java DB (trivy-java-db schema 1: its tables and metadata)
// into cache: Trivy needs one for any image with a jar, and a jar with Maven
// pom.properties (as the case's) is identified without any entry.
func layJavaDB(t *testing.T, cache string) {
	t.Helper()
	dir := filepath.Join(cache, "java-db")
	script := `import json, os, sqlite3, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
c = sqlite3.connect(os.path.join(d, "trivy-java.db"))
c.executescript("""
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, foreign key (artifact_id) references artifacts(id));
CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
CREATE INDEX indices_artifact_idx ON indices(artifact_id);
CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);
""")
c.commit()
json.dump({"Version": 1, "NextUpdate": "2999-01-01T00:00:00Z", "UpdatedAt": "2026-01-01T00:00:00Z", "DownloadedAt": "2026-01-01T00:00:00Z"}, open(os.path.join(d, "metadata.json"), "w"))
`
	if out, err := exec.Command("python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("make a Java DB: %v\n%s", err, out)
	}
}

// layCache returns a new cache folder holding the vulnerability DB of dbCache (from
// caseDB) and an empty Java DB: every layer is read again.
func layCache(t *testing.T, dbCache string) string {
	t.Helper()
	dir := t.TempDir()
	if b, err := exec.Command("cp", "-a", filepath.Join(dbCache, "db"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	layJavaDB(t, dir)
	return dir
}

// layScan runs the engine on an archive and returns "package ID" of each
// vulnerability, sorted, failing on an engine error.
func layScan(t *testing.T, cache, archive, id string) ([]string, engine.ScanResponse) {
	t.Helper()
	resp, errMsg := engineRequest(t, engine.ScanRequest{
		DB:    engine.DBOptions{CacheDir: cache, SkipUpdate: true, NoProgress: true},
		Image: engine.Image{ArchivePath: archive, Reference: "layers/case:1", ID: id},
	})
	if errMsg != "" {
		t.Fatalf("scan: %s", errMsg)
	}
	var out []string
	for _, f := range resp.Scan.Findings {
		if f.Kind == "vulnerability" {
			out = append(out, f.PkgName+" "+f.VulnerabilityID)
		}
	}
	sort.Strings(out)
	return out, resp
}

const log4shell = "org.apache.logging.log4j:log4j-core CVE-2021-44228"

// TestLayersDirectoryReplacedBySymlink is the case dir-replaced-by-symlink
// (aquasecurity/trivy#2637): layer 1 holds test/log4j-core-2.14.1.jar, layer 2 holds
// "test" as a symlink and no whiteout. The jar is not in the image: no finding, on a
// cold scan, a cached re-scan and through the plugin; the image without layer 2 (the
// control) reports CVE-2021-44228.
func TestLayersDirectoryReplacedBySymlink(t *testing.T) {
	needTestdata(t)
	caseDir := filepath.Join(testdata, "cases", "dir-replaced-by-symlink")
	work := t.TempDir()
	jarPath := filepath.Join(work, "log4j-core-2.14.1.jar")
	if out, err := exec.Command("python3", filepath.Join(caseDir, "make_jar.py"), jarPath).CombinedOutput(); err != nil {
		t.Fatalf("make_jar.py: %v\n%s", err, out)
	}
	archive := filepath.Join(work, "case.tar")
	tag := "layers/dir-replaced-by-symlink:1"
	out, err := exec.Command("python3", filepath.Join(caseDir, "make_image.py"), jarPath, archive, tag).Output()
	if err != nil {
		t.Fatalf("make_image.py: %v", err)
	}
	id := "sha256:" + strings.TrimSpace(string(out))
	jar, err := os.ReadFile(jarPath)
	if err != nil {
		t.Fatal(err)
	}
	dbCache := caseDB(t, "dir-replaced-by-symlink")
	cache := layCache(t, dbCache)

	t.Run("the case: no finding", func(t *testing.T) {
		got, resp := layScan(t, cache, archive, id)
		if len(got) != 0 {
			t.Fatalf("findings for a jar the image does not hold: %q", got)
		}
		if p := resp.Scan.Image.Platforms; len(p) != 1 || p[0].Layers != 2 || p[0].Analysed != 2 {
			t.Fatalf("platforms: %+v", p)
		}
	})
	t.Run("a cached re-scan reads no image and finds nothing either", func(t *testing.T) {
		gone := filepath.Join(t.TempDir(), "gone.tar")
		if err := os.WriteFile(gone, []byte("not an archive"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, resp := layScan(t, cache, gone, id)
		if len(got) != 0 {
			t.Fatalf("cached re-scan: %q", got)
		}
		if p := resp.Scan.Image.Platforms; len(p) != 1 || p[0].Analysed != 0 {
			t.Fatalf("the re-scan analysed layers again: %+v", p)
		}
	})

	dirs := []layEntry{{"elsewhere/", "dir", ""}, {"elsewhere/README", "file", "not a jar\n"}}
	base := layTar(t, append(dirs, layEntry{"test/", "dir", ""}, layEntry{"test/log4j-core-2.14.1.jar", "file", string(jar)})...)
	for _, tc := range []struct {
		name   string
		layers [][]byte
		want   []string
	}{
		{"control: the image without layer 2", [][]byte{base}, []string{log4shell}},
		{"the directory replaced by a regular file", [][]byte{base, layTar(t, layEntry{"test", "file", "a file now\n"})}, nil},
		{"the jar replaced by a symlink", [][]byte{base, layTar(t, layEntry{"test/", "dir", ""}, layEntry{"test/log4j-core-2.14.1.jar", "symlink", "/elsewhere/README"})}, nil},
		{"the directory replaced by a symlink two layers up", [][]byte{base, layTar(t, layEntry{"other/", "dir", ""}, layEntry{"other/file", "file", "x"}),
			layTar(t, layEntry{"test", "symlink", "/elsewhere"})}, nil},
		{"a directory replacing a symlink", [][]byte{layTar(t, append(dirs, layEntry{"test", "symlink", "/elsewhere"})...),
			layTar(t, layEntry{"test/", "dir", ""}, layEntry{"test/log4j-core-2.14.1.jar", "file", string(jar)})}, []string{log4shell}},
		{"replaced by a symlink, then a directory with the jar again", [][]byte{base, layTar(t, layEntry{"test", "symlink", "/elsewhere"}),
			layTar(t, layEntry{"test/", "dir", ""}, layEntry{"test/log4j-core-2.14.1.jar", "file", string(jar)})}, []string{log4shell}},
		{"a whiteout of the directory still removes it", [][]byte{base, layTar(t, layEntry{".wh.test", "file", ""})}, nil},
		{"a whiteout of the jar still removes it", [][]byte{base, layTar(t, layEntry{"test/", "dir", ""}, layEntry{"test/.wh.log4j-core-2.14.1.jar", "file", ""})}, nil},
		{"a directory over the directory keeps the jar", [][]byte{base, layTar(t, layEntry{"test/", "dir", ""}, layEntry{"test/other.txt", "file", "x"})}, []string{log4shell}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive, id := layArchive(t, "layers/variant:1", tc.layers...)
			// The shared cache: the base layer comes from the layer cache after its first scan.
			if got, _ := layScan(t, cache, archive, id); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("findings: got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("through the plugin", func(t *testing.T) {
		mustDocker(t, "load", "-i", archive)
		plugin := t.TempDir()
		if b, err := exec.Command("cp", "-a", filepath.Join(dbCache, "db"), plugin).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
		layJavaDB(t, plugin)
		rep := filepath.Join(t.TempDir(), "r.json")
		r := docker(t, nil, "secscan", "scan", "--exit-code", "--no-progress", "--skip-db-update", "--cache-dir", plugin, "-f", "secscan-json", "-o", rep, tag)
		if r.code != 0 {
			t.Fatalf("scan: %s", r)
		}
		b, _ := os.ReadFile(rep)
		if bytes.Contains(b, []byte("CVE-2021-44228")) {
			t.Fatalf("the report names the jar that is not in the image:\n%s", b)
		}
	})
}

// TestLayersOSPackageDBReplaced: the same rule for an OS package DB (Debian's dpkg
// status, with the tar advisory of the debian-testing-no-version-id case's DB): the
// folder holding it replaced by a file or a symlink, or the file itself by a symlink,
// and no OS package is left to report; a later layer's own DB is reported.
func TestLayersOSPackageDBReplaced(t *testing.T) {
	needTestdata(t)
	status, err := os.ReadFile(filepath.Join(testdata, "rootfs", "bookworm-minbase", "var_lib_dpkg_status"))
	if err != nil {
		t.Fatal(err)
	}
	osRelease, err := os.ReadFile(filepath.Join(testdata, "rootfs", "bookworm-minbase", "os-release"))
	if err != nil {
		t.Fatal(err)
	}
	debian := []layEntry{{"etc/", "dir", ""}, {"etc/debian_version", "file", "12.15\n"}, {"etc/os-release", "file", string(osRelease)},
		{"var/", "dir", ""}, {"var/lib/", "dir", ""}, {"var/lib/dpkg/", "dir", ""}, {"var/lib/dpkg/status", "file", string(status)},
		{"srv/", "dir", ""}, {"srv/empty", "file", ""}}
	base := layTar(t, debian...)
	cache := layCache(t, caseDB(t, "debian-testing-no-version-id"))
	const tarVuln = "tar CVE-2099-0501"
	for _, tc := range []struct {
		name   string
		layers [][]byte
		want   []string
	}{
		{"control: the Debian 12 tree", [][]byte{base}, []string{tarVuln}},
		{"var/lib/dpkg replaced by a file", [][]byte{base, layTar(t, layEntry{"var/", "dir", ""}, layEntry{"var/lib/", "dir", ""}, layEntry{"var/lib/dpkg", "file", "x"})}, nil},
		{"var/lib replaced by a symlink", [][]byte{base, layTar(t, layEntry{"var/", "dir", ""}, layEntry{"var/lib", "symlink", "/srv"})}, nil},
		{"the status file replaced by a symlink", [][]byte{base, layTar(t, layEntry{"var/lib/dpkg/status", "symlink", "/srv/empty"})}, nil},
		{"the status file replaced by a hard link", [][]byte{base, layTar(t, layEntry{"var/lib/dpkg/status", "hardlink", "srv/empty"})}, nil},
		{"replaced, then a new DB in a later layer", [][]byte{base, layTar(t, layEntry{"var/lib", "symlink", "/srv"}),
			layTar(t, layEntry{"var/lib/", "dir", ""}, layEntry{"var/lib/dpkg/", "dir", ""}, layEntry{"var/lib/dpkg/status", "file", string(status)})}, []string{tarVuln}},
		{"a sibling file changes nothing", [][]byte{base, layTar(t, layEntry{"var/lib/dpkg/status-old", "file", "x"})}, []string{tarVuln}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive, id := layArchive(t, "layers/dpkg:1", tc.layers...)
			got, resp := layScan(t, cache, archive, id)
			var found []string
			for _, g := range got {
				if g == tarVuln {
					found = append(found, g)
				}
			}
			if strings.Join(found, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("findings: got %q, want %q", got, tc.want)
			}
			if tc.want == nil && resp.Scan.Packages != 0 {
				t.Errorf("%d packages reported from a DB the image does not hold", resp.Scan.Packages)
			}
		})
	}
}
