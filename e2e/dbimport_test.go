//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// dbStatus runs `docker secscan db status -f json` on cache.
func dbStatus(t *testing.T, cache string) (st struct {
	SchemaVersion int
	UpdatedAt     time.Time
	Source        string
	JavaDB        *struct{ Source string }
}) {
	t.Helper()
	r := docker(t, nil, "secscan", "db", "status", "--cache-dir", cache, "--format", "json")
	if r.code != 0 {
		t.Fatalf("db status: %s", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("db status json: %v: %s", err, r)
	}
	return st
}

// fixtureDB builds the fixture DB into a folder and returns it with its db.tar.gz.
func fixtureDB(t *testing.T, updatedAt time.Time) (dir, archive string) {
	t.Helper()
	fixtures, _ := filepath.Glob(filepath.Join(testdata, "trivy-db-fixtures", "*.yaml"))
	dir = filepath.Join(t.TempDir(), "db")
	if err := testenv.BuildDB(dir, fixtures, updatedAt, updatedAt.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	layer, err := testenv.DBArchive(dir, "trivy.db", "metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	archive = filepath.Join(t.TempDir(), "db.tar.gz")
	if err := os.WriteFile(archive, layer, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, archive
}

// TestDBImport: an air-gapped site imports the DB as db.tar.gz, as a folder and as an
// OCI layout of the artifact; db status names the import; bad input is a one-line error
// naming it, and the cached DB stays as it was.
func TestDBImport(t *testing.T) {
	needTestdata(t)
	updated := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	dir, archive := fixtureDB(t, updated)
	layer, _ := os.ReadFile(archive)
	oci := filepath.Join(t.TempDir(), "trivy-db-layout")
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), testenv.DBConfigMediaType)
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(layer, testenv.DBLayerMediaType),
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"}})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(oci, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "2"})); err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	for _, in := range []string{archive, dir, oci} {
		r := docker(t, nil, "secscan", "db", "import", "--cache-dir", cache, in)
		if r.code != 0 || !strings.Contains(r.stderr, "Vulnerability DB imported from "+in) {
			t.Fatalf("db import %s: %s", in, r)
		}
		st := dbStatus(t, cache)
		if st.Source != "imported from "+in || st.SchemaVersion != 2 || !st.UpdatedAt.Equal(updated) {
			t.Errorf("db status after importing %s: %+v", in, st)
		}
		table := docker(t, nil, "secscan", "db", "status", "--cache-dir", cache)
		if !strings.Contains(table.stdout, "imported from "+in) {
			t.Errorf("db status does not name the import: %s", table)
		}
	}

	// Bad input: one line naming it; the cache keeps the last import, whole.
	bad := t.TempDir()
	noMeta := filepath.Join(bad, "no-metadata")
	_ = os.MkdirAll(noMeta, 0o755)
	b, _ := os.ReadFile(filepath.Join(dir, "trivy.db"))
	_ = os.WriteFile(filepath.Join(noMeta, "trivy.db"), b, 0o644)
	oldSchema := filepath.Join(bad, "schema1")
	_ = os.MkdirAll(oldSchema, 0o755)
	_ = os.WriteFile(filepath.Join(oldSchema, "trivy.db"), b, 0o644)
	_ = os.WriteFile(filepath.Join(oldSchema, "metadata.json"), []byte(`{"Version":1,"UpdatedAt":"2020-01-01T00:00:00Z","NextUpdate":"2020-01-02T00:00:00Z"}`), 0o644)
	randomTar := filepath.Join(bad, "random.tar.gz")
	junk, err := testenv.DBArchive(noMeta, "trivy.db")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(randomTar, junk, 0o644)
	for _, tt := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(bad, "nonexistent.tar.gz"), "no such file or folder"},
		{"folder without metadata.json", noMeta, "no metadata.json"},
		{"wrong schema", oldSchema, "schema 1, this build needs 2"},
		{"random tarball", randomTar, "no trivy.db and metadata.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := docker(t, nil, "secscan", "db", "import", "--cache-dir", cache, tt.path)
			if r.code != 1 {
				t.Fatalf("want exit 1: %s", r)
			}
			checkOneLineError(t, r, tt.path)
			checkOneLineError(t, r, tt.want)
			if st := dbStatus(t, cache); st.Source != "imported from "+oci {
				t.Errorf("the cached DB changed: %+v", st)
			}
			if m, _ := filepath.Glob(filepath.Join(cache, "db-import-*")); len(m) > 0 {
				t.Errorf("left behind: %v", m)
			}
		})
	}
}

// TestDBRepositorySettingsPersist: $SECSCAN_DB_REPOSITORY and the policy's
// db.repository choose the DB repository without a flag; flag > environment > policy.
func TestDBRepositorySettingsPersist(t *testing.T) {
	needTestdata(t)
	p, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	unreachable := fmt.Sprintf("127.0.0.1:%d/no-db", p)
	work := t.TempDir()
	_ = os.WriteFile(filepath.Join(work, ".git"), nil, 0o644) // the git root: no policy above
	update := func(env []string, policyRepo string, args ...string) (result, string) {
		t.Helper()
		if policyRepo != "" {
			_ = os.WriteFile(filepath.Join(work, ".secscan.yaml"), []byte("db:\n  repository: "+policyRepo+"\n"), 0o644)
		} else {
			_ = os.Remove(filepath.Join(work, ".secscan.yaml"))
		}
		cache := t.TempDir()
		env = append([]string{"SECSCAN_DB_REPOSITORY="}, env...)
		return dockerIn(t, work, configDir, env, append([]string{"secscan", "db", "update", "--no-progress", "--cache-dir", cache}, args...)...), cache
	}
	for _, tt := range []struct {
		name       string
		env        []string
		policyRepo string
		args       []string
	}{
		{"environment", []string{"SECSCAN_DB_REPOSITORY=" + dbRepo}, "", nil},
		{"environment, a list", []string{"SECSCAN_DB_REPOSITORY=" + unreachable + "," + dbRepo}, "", nil},
		{"policy", nil, dbRepo, nil},
		{"environment over policy", []string{"SECSCAN_DB_REPOSITORY=" + dbRepo}, unreachable, nil},
		{"flag over environment", []string{"SECSCAN_DB_REPOSITORY=" + unreachable}, unreachable, []string{"--db-repository", dbRepo}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, cache := update(tt.env, tt.policyRepo, tt.args...)
			if r.code != 0 {
				t.Fatalf("db update: %s", r)
			}
			if st := dbStatus(t, cache); st.Source != dbRepo+":2" {
				t.Errorf("source %q, want %s:2", st.Source, dbRepo)
			}
		})
	}
	r, _ := update([]string{"SECSCAN_DB_REPOSITORY=Not A Reference"}, "")
	if r.code != 1 {
		t.Fatalf("a bad $SECSCAN_DB_REPOSITORY: %s", r)
	}
	checkOneLineError(t, r, "$SECSCAN_DB_REPOSITORY")
	help := docker(t, nil, "secscan", "scan", "--help")
	if !strings.Contains(strings.Join(strings.Fields(help.stdout), " "), "flag > $SECSCAN_DB_REPOSITORY > db.repository in the policy file") {
		t.Errorf("--help does not say the precedence: %s", help)
	}
}

// TestCorruptDBIsDownloadedAgainFromItsSource: a damaged DB, with no repository set,
// is downloaded again from the repository it came from (recorded in the cache), not
// from Trivy's default.
func TestCorruptDBIsDownloadedAgainFromItsSource(t *testing.T) {
	needTestdata(t)
	cache := t.TempDir()
	r := docker(t, []string{"SECSCAN_DB_REPOSITORY="}, "secscan", "db", "update", "--no-progress", "--cache-dir", cache, "--db-repository", dbRepo)
	if r.code != 0 {
		t.Fatalf("db update: %s", r)
	}
	if err := os.WriteFile(filepath.Join(cache, "db", "trivy.db"), []byte(strings.Repeat("damaged ", 1024)), 0o644); err != nil {
		t.Fatal(err)
	}
	r = docker(t, []string{"SECSCAN_DB_REPOSITORY="}, "secscan", "db", "update", "--no-progress", "--cache-dir", cache)
	if r.code != 0 {
		t.Fatalf("db update without a repository: %s", r)
	}
	if !strings.Contains(r.stderr, "Downloading the vulnerability DB from "+dbRepo+":2 (the source of the cached DB)") {
		t.Errorf("the download does not say where it goes: %s", r)
	}
	if st := dbStatus(t, cache); st.Source != dbRepo+":2" {
		t.Errorf("source %q, want %s:2", st.Source, dbRepo)
	}
}

// TestDBRepositoryThatNeverAnswers: a repository that accepts the connection and never
// answers is left after 30 s with a progress line while waiting, and a one-line error
// naming it and what to do; not 1.5 silent minutes.
func TestDBRepositoryThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var held []net.Conn
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
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	repo := l.Addr().String() + "/trivy-db"
	t0 := time.Now()
	r := docker(t, []string{"SECSCAN_DB_REPOSITORY="}, "secscan", "db", "update", "--no-progress", "--cache-dir", t.TempDir(), "--db-repository", repo)
	took := time.Since(t0)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	if took > 45*time.Second {
		t.Errorf("gave up after %s, want about 30s", took.Round(time.Second))
	}
	if !strings.Contains(r.stderr, "Waiting for "+repo+":2 to answer") {
		t.Errorf("no progress line while waiting: %s", r)
	}
	for _, want := range []string{repo + ":2: no answer within 30s", "--db-repository", "docker secscan db import"} {
		checkOneLineError(t, r, want)
	}
}
