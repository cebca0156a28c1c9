package scanner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	javadbpkg "github.com/aquasecurity/trivy-java-db/pkg/db"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite" // the Java DB's driver, as the engine links it

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// makeDB writes a small vulnerability DB (trivy.db that opens, metadata.json) into dir.
func makeDB(t *testing.T, dir string, schema int, updatedAt time.Time) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(filepath.Join(dir, "trivy.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
		if err != nil {
			return err
		}
		return b.Put([]byte("CVE-2019-1549"), []byte(`{"Title":"test"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	writeMeta(t, dir, map[string]any{"Version": schema, "UpdatedAt": updatedAt.UTC(), "NextUpdate": updatedAt.Add(24 * time.Hour).UTC(), "DownloadedAt": time.Time{}})
}

func writeMeta(t *testing.T, dir string, meta map[string]any) {
	t.Helper()
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarGz packs the named files of dir at the archive root (gzip unless plain).
func tarGz(t *testing.T, dir string, plain bool, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w = &buf
	var gz *gzip.Writer
	tw := tar.NewWriter(w)
	if !plain {
		gz = gzip.NewWriter(w)
		tw = tar.NewWriter(gz)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		_ = tw.WriteHeader(&tar.Header{Name: f, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(b)
	}
	_ = tw.Close()
	if gz != nil {
		_ = gz.Close()
	}
	return buf.Bytes()
}

// dbArtifact is Trivy's DB artifact with layer as its single layer.
func dbArtifact(t *testing.T, layer []byte, mediaType, title string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.aquasec.trivy.config.v1+json")
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(layer, types.MediaType(mediaType)),
		Annotations: map[string]string{"org.opencontainers.image.title": title},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout saves img as an OCI image layout, as `oras copy --to-oci-layout` does.
func writeLayout(t *testing.T, dir string, img v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "2"})); err != nil {
		t.Fatal(err)
	}
}

// tarDir packs a folder's files (skopeo's oci-archive).
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = rel
		_ = tw.WriteHeader(h)
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			_, _ = tw.Write(b)
		}
		return nil
	})
	_ = tw.Close()
	return buf.Bytes()
}

// cacheWithDB is a cache folder holding an older DB downloaded from "old-mirror".
func cacheWithDB(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	makeDB(t, filepath.Join(cache, "db"), 2, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := os.WriteFile(filepath.Join(cache, "db", sourceFile), []byte("registry.example.com/old-mirror:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cache
}

// noLeftovers fails when an import left a temporary folder in the cache.
func noLeftovers(t *testing.T, cache string) {
	t.Helper()
	for _, pat := range []string{"db-import-*", "db.old", "java-db.old"} {
		if m, _ := filepath.Glob(filepath.Join(cache, pat)); len(m) > 0 {
			t.Errorf("left behind: %v", m)
		}
	}
}

func TestImportDBFromEachForm(t *testing.T) {
	updated := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	src := t.TempDir()
	makeDB(t, src, 2, updated)
	gzLayer := tarGz(t, src, false, "trivy.db", "metadata.json")

	inputs := t.TempDir()
	forms := map[string]string{}
	forms["db.tar.gz"] = filepath.Join(inputs, "db.tar.gz")
	_ = os.WriteFile(forms["db.tar.gz"], gzLayer, 0o644)
	forms["db.tar"] = filepath.Join(inputs, "db.tar")
	_ = os.WriteFile(forms["db.tar"], tarGz(t, src, true, "metadata.json", "trivy.db"), 0o644)
	forms["folder"] = src
	forms["oci layout"] = filepath.Join(inputs, "layout")
	writeLayout(t, forms["oci layout"], dbArtifact(t, gzLayer, dbLayerMediaType, "db.tar.gz"))
	forms["oci archive"] = filepath.Join(inputs, "layout.tar")
	_ = os.WriteFile(forms["oci archive"], tarDir(t, forms["oci layout"]), 0o644)

	for form, path := range forms {
		t.Run(form, func(t *testing.T) {
			cache := cacheWithDB(t)
			st, err := ImportDB(context.Background(), cache, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := engine.ImportedSourcePrefix + path; st.Source != want {
				t.Errorf("source = %q, want %q", st.Source, want)
			}
			if !st.UpdatedAt.Equal(updated) || st.SchemaVersion != 2 || st.DownloadedAt.IsZero() {
				t.Errorf("status = %+v", st)
			}
			if err := validateDB(filepath.Join(cache, "db")); err != nil {
				t.Errorf("the imported DB: %v", err)
			}
			again, err := ReadDBStatus(cache)
			if err != nil || again.Source != st.Source {
				t.Errorf("db status after the import: %+v, %v", again, err)
			}
			noLeftovers(t, cache)
		})
	}
}

func TestImportDBRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldSchema := filepath.Join(dir, "schema1")
	makeDB(t, oldSchema, 1, time.Now())
	noMeta := filepath.Join(dir, "nometa")
	makeDB(t, noMeta, 2, time.Now())
	_ = os.Remove(filepath.Join(noMeta, "metadata.json"))
	corrupt := filepath.Join(dir, "corrupt")
	makeDB(t, corrupt, 2, time.Now())
	_ = os.WriteFile(filepath.Join(corrupt, "trivy.db"), bytes.Repeat([]byte("not a bolt file "), 512), 0o644)
	junk := filepath.Join(dir, "junk")
	_ = os.MkdirAll(junk, 0o755)
	_ = os.WriteFile(filepath.Join(junk, "README"), []byte("hello"), 0o644)
	randomTar := write("random.tar.gz", tarGz(t, junk, false, "README"))
	javaLayout := filepath.Join(dir, "java-layout")
	writeLayout(t, javaLayout, dbArtifact(t, tarGz(t, junk, false, "README"), javaDBLayerMediaType, "javadb.tar.gz"))
	damagedLayout := filepath.Join(dir, "damaged-layout")
	src := t.TempDir()
	makeDB(t, src, 2, time.Now())
	art := dbArtifact(t, tarGz(t, src, false, "trivy.db", "metadata.json"), dbLayerMediaType, "db.tar.gz")
	writeLayout(t, damagedLayout, art)
	layers, _ := art.Layers()
	d, _ := layers[0].Digest()
	blob := filepath.Join(damagedLayout, "blobs", d.Algorithm, d.Hex)
	if fi, err := os.Stat(blob); err != nil {
		t.Fatal(err)
	} else if err := os.Truncate(blob, fi.Size()/2); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nonexistent.tar.gz"), "no such file or folder"},
		{"wrong schema", write("schema1.tar.gz", tarGz(t, oldSchema, false, "trivy.db", "metadata.json")), "schema 1, this build needs 2"},
		{"wrong schema folder", oldSchema, "schema 1"},
		{"random tarball", randomTar, "no trivy.db and metadata.json"},
		{"not an archive", write("notes.txt", []byte("just some text\n")), "not a tar or tar.gz archive"},
		{"folder without metadata.json", noMeta, "no metadata.json"},
		{"folder of something else", junk, "neither trivy.db and metadata.json nor an OCI layout"},
		{"corrupt trivy.db", corrupt, "corrupt"},
		{"layout of the Java DB", javaLayout, "--java-db"},
		{"damaged layout", damagedLayout, "copy the layout again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := cacheWithDB(t)
			before, _ := os.ReadFile(filepath.Join(cache, "db", "trivy.db"))
			_, err := ImportDB(context.Background(), cache, tt.path, false)
			if err == nil {
				t.Fatal("imported")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tt.path) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want one line naming %s and saying %q", msg, tt.path, tt.want)
			}
			after, _ := os.ReadFile(filepath.Join(cache, "db", "trivy.db"))
			st, _ := ReadDBStatus(cache)
			if !bytes.Equal(before, after) || st.Source != "registry.example.com/old-mirror:2" {
				t.Errorf("the cached DB changed: source %q", st.Source)
			}
			noLeftovers(t, cache)
		})
	}
}

// makeJavaDB writes a Java DB (trivy-java-db's SQLite tables and metadata) into dir.
func makeJavaDB(t *testing.T, dir string) {
	t.Helper()
	jdb, err := javadbpkg.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := jdb.Init(); err != nil {
		t.Fatal(err)
	}
	if err := jdb.Close(); err != nil {
		t.Fatal(err)
	}
	writeMeta(t, dir, map[string]any{"Version": 1, "UpdatedAt": time.Now().UTC(), "NextUpdate": time.Now().Add(72 * time.Hour).UTC()})
}

func TestImportJavaDB(t *testing.T) {
	src := t.TempDir()
	makeJavaDB(t, src)
	archive := filepath.Join(t.TempDir(), "javadb.tar.gz")
	_ = os.WriteFile(archive, tarGz(t, src, false, "trivy-java.db", "metadata.json"), 0o644)
	vulnDB := t.TempDir()
	makeDB(t, vulnDB, 2, time.Now())

	for _, path := range []string{src, archive} {
		cache := cacheWithDB(t)
		st, err := ImportDB(context.Background(), cache, path, true)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if st.JavaDB == nil || st.JavaDB.Source != engine.ImportedSourcePrefix+path || st.JavaDB.SchemaVersion != 1 {
			t.Errorf("%s: Java DB status %+v", path, st.JavaDB)
		}
		if st.Source != "registry.example.com/old-mirror:2" {
			t.Errorf("the vulnerability DB's source changed: %q", st.Source)
		}
		noLeftovers(t, cache)
		// Scans do not replace an imported Java DB by a download from elsewhere.
		if _, skip, _ := javaDBRepositories(DBOptions{CacheDir: cache}); !skip {
			t.Error("an imported Java DB would be replaced by a download")
		}
	}
	_, err := ImportDB(context.Background(), t.TempDir(), vulnDB, true)
	if err == nil || !strings.Contains(err.Error(), "not the Java DB") || !strings.Contains(err.Error(), "without --java-db") {
		t.Errorf("the vulnerability DB imported as the Java DB: %v", err)
	}
	notSQLite := t.TempDir()
	makeJavaDB(t, notSQLite)
	_ = os.WriteFile(filepath.Join(notSQLite, "trivy-java.db"), bytes.Repeat([]byte("x"), 4096), 0o644)
	if _, err := ImportDB(context.Background(), t.TempDir(), notSQLite, true); err == nil || !strings.Contains(err.Error(), notSQLite) {
		t.Errorf("a Java DB that is not SQLite: %v", err)
	}
}

// syncBuffer collects progress lines written from timer goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func captureProgress(t *testing.T) *syncBuffer {
	b := &syncBuffer{}
	prev := progressOut
	progressOut = b
	t.Cleanup(func() { progressOut = prev })
	return b
}

// pushDBArtifact serves a DB artifact from an in-process registry; it returns the
// artifact's reference.
func pushDBArtifact(t *testing.T, repo string) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	src := t.TempDir()
	makeDB(t, src, 2, time.Now())
	ref := strings.TrimPrefix(srv.URL, "http://") + "/" + repo + ":2"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, dbArtifact(t, tarGz(t, src, false, "trivy.db", "metadata.json"), dbLayerMediaType, "db.tar.gz")); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestCorruptDBIsDownloadedAgainFromItsSource(t *testing.T) {
	progress := captureProgress(t)
	ref := pushDBArtifact(t, "mirror/trivy-db")
	cache := t.TempDir()
	makeDB(t, filepath.Join(cache, "db"), 2, time.Now())
	_ = os.WriteFile(filepath.Join(cache, "db", sourceFile), []byte(ref+"\n"), 0o644)
	_ = os.WriteFile(filepath.Join(cache, "db", "trivy.db"), bytes.Repeat([]byte("damaged "), 1024), 0o644)

	// No repository set: the download goes where the cached DB came from, not to
	// Trivy's default (which this test could not reach).
	st, err := EnsureDB(context.Background(), DBOptions{CacheDir: cache, NoProgress: true}, false)
	if err != nil {
		t.Fatalf("%v (progress: %s)", err, progress)
	}
	if st.Source != ref {
		t.Errorf("source = %q, want %q", st.Source, ref)
	}
	if err := validateDB(filepath.Join(cache, "db")); err != nil {
		t.Errorf("the DB after the download: %v", err)
	}
	if !strings.Contains(progress.String(), "Downloading the vulnerability DB from "+ref+" (the source of the cached DB)") {
		t.Errorf("progress does not say where the DB comes from: %q", progress)
	}
}

func TestImportedDBIsNotReplacedByADownloadFromElsewhere(t *testing.T) {
	progress := captureProgress(t)
	cache := t.TempDir()
	dir := filepath.Join(cache, "db")
	makeDB(t, dir, 2, time.Now().Add(-72*time.Hour))
	writeMeta(t, dir, map[string]any{"Version": 2, "UpdatedAt": time.Now().Add(-72 * time.Hour).UTC(), "NextUpdate": time.Now().Add(-48 * time.Hour).UTC(), "DownloadedAt": time.Now().Add(-24 * time.Hour).UTC()})
	_ = os.WriteFile(filepath.Join(dir, sourceFile), []byte(engine.ImportedSourcePrefix+"/media/usb/db.tar.gz\n"), 0o644)

	// Past its next update: used as it is, with a line that says so.
	st, err := EnsureDB(context.Background(), DBOptions{CacheDir: cache, NoProgress: true}, false)
	if err != nil || st.Source != engine.ImportedSourcePrefix+"/media/usb/db.tar.gz" {
		t.Fatalf("%+v, %v", st, err)
	}
	if !strings.Contains(progress.String(), "db import") {
		t.Errorf("no line about the due update: %q", progress)
	}
	// Damaged: import again (no silent download from Trivy's default).
	_ = os.WriteFile(filepath.Join(dir, "trivy.db"), bytes.Repeat([]byte("damaged "), 1024), 0o644)
	_, err = EnsureDB(context.Background(), DBOptions{CacheDir: cache, NoProgress: true}, false)
	if err == nil || !strings.Contains(err.Error(), "docker secscan db import /media/usb/db.tar.gz") || strings.Contains(progress.String(), "Downloading") {
		t.Fatalf("a damaged imported DB: %v (progress: %s)", err, progress)
	}
}

func TestDBRepositoryThatNeverAnswersFailsInBoundedTime(t *testing.T) {
	progress := captureProgress(t)
	prev := [3]time.Duration{dbAnswerTimeout, dbWaitNotice, dbStallTimeout}
	dbAnswerTimeout, dbWaitNotice, dbStallTimeout = 2*time.Second, 300*time.Millisecond, 2*time.Second
	t.Cleanup(func() { dbAnswerTimeout, dbWaitNotice, dbStallTimeout = prev[0], prev[1], prev[2] })

	// A server that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	repo := fmt.Sprintf("%s/trivy-db", l.Addr())
	t0 := time.Now()
	_, err = EnsureDB(context.Background(), DBOptions{CacheDir: t.TempDir(), Repositories: []string{repo}, NoProgress: true}, false)
	took := time.Since(t0)
	if err == nil {
		t.Fatal("no error")
	}
	// go-containerregistry alone would retry three times: 3 x the answer timeout.
	if took > 2*dbAnswerTimeout+time.Second {
		t.Errorf("gave up after %s, want about %s", took, dbAnswerTimeout)
	}
	msg := err.Error()
	for _, want := range []string{repo + ":2", "no answer within 2s", "--db-repository", "docker secscan db import"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "--skip-db-update") {
		t.Errorf("error %q suggests --skip-db-update without a cached DB", msg)
	}
	if p := progress.String(); !strings.Contains(p, "Waiting for "+repo+":2 to answer") {
		t.Errorf("no progress line while waiting: %q", p)
	}
}
