package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy/pkg/db"
	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/javadb"
	xhttp "github.com/aquasecurity/trivy/pkg/x/http"
	"github.com/google/go-containerregistry/pkg/name"
	bolt "go.etcd.io/bbolt"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/filelock"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// ErrNoDB means no usable vulnerability DB is in the cache and none may be downloaded.
var ErrNoDB = errors.New("no vulnerability DB in the cache")

// DBOptions, DBStatus: see package engine.
type (
	DBOptions = engine.DBOptions
	DBStatus  = engine.DBStatus
)

// sourceFile records, beside trivy.db, which repository the DB came from.
const sourceFile = "secscan-source"

// ParseDBRepositories parses OCI references to DB artifacts (see
// engine.ParseDBRepositories) with this build's DB schema as the default tag.
func ParseDBRepositories(refs []string, flagName string) ([]name.Reference, error) {
	return engine.ParseDBRepositories(refs, flagName, trivydb.SchemaVersion)
}

// ReadDBStatus reads the metadata of the DB in cacheDir without opening it.
// It returns ErrNoDB (wrapped) when there is no DB.
func ReadDBStatus(cacheDir string) (DBStatus, error) {
	dir := db.Dir(cacheDir)
	st := DBStatus{Path: trivydb.Path(dir)}
	if _, err := os.Stat(st.Path); err != nil {
		return st, fmt.Errorf("%w %s", ErrNoDB, cacheDir)
	}
	meta, err := metadata.NewClient(dir).Get()
	if err != nil {
		return st, fmt.Errorf("%w %s: metadata.json is unreadable: %v", ErrNoDB, cacheDir, err)
	}
	st.DB = report.DB{SchemaVersion: meta.Version, UpdatedAt: meta.UpdatedAt, NextUpdate: meta.NextUpdate, DownloadedAt: meta.DownloadedAt}
	if b, err := os.ReadFile(filepath.Join(dir, sourceFile)); err == nil {
		st.Source = strings.TrimSpace(string(b))
	}
	return st, nil
}

// needsUpdate applies Trivy's update rule (pkg/db.Client.NeedsUpdate): download when
// there is no DB, the schema differs, or the DB is past NextUpdate and more than an
// hour old.
func needsUpdate(st DBStatus, err error, now time.Time) bool {
	if err != nil || st.SchemaVersion != trivydb.SchemaVersion || st.DownloadedAt.IsZero() {
		return true
	}
	return !now.Before(st.NextUpdate) && !now.Before(st.DownloadedAt.Add(time.Hour))
}

// EnsureDB makes sure a usable DB is in the cache, downloading it when Trivy's rule
// says so (or always when force is set). A download goes to a temporary folder and
// replaces the cached DB only once it has been opened and checked, so a failed or
// corrupt download leaves the old DB in place. Concurrent callers are serialised with
// a lock file in the cache folder.
func EnsureDB(ctx context.Context, opts DBOptions, force bool) (DBStatus, error) {
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return DBStatus{}, fmt.Errorf("cache folder %s: %w", opts.CacheDir, err)
	}
	setTransport(opts.Insecure)
	unlock, err := filelock.LockContext(ctx, filepath.Join(opts.CacheDir, "db.lock"), nil)
	if err != nil {
		if !(opts.SkipUpdate && !force && errors.Is(err, syscall.EROFS)) {
			return DBStatus{}, err
		}
		// A read-only, pre-filled cache: nobody can change it, no lock needed.
		unlock = func() {}
	}
	defer unlock()
	// Downloads that an interrupted run left behind (we hold the lock: none is live).
	if old, _ := filepath.Glob(filepath.Join(opts.CacheDir, "db-download-*")); len(old) > 0 {
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}

	st, stErr := ReadDBStatus(opts.CacheDir)
	if opts.SkipUpdate && !force {
		if stErr != nil {
			return st, fmt.Errorf("%w and --skip-db-update forbids a download: run without --skip-db-update or run 'docker secscan db update'", stErr)
		}
		if st.SchemaVersion != trivydb.SchemaVersion {
			return st, fmt.Errorf("the cached DB has schema %d, this build needs %d: run 'docker secscan db update'", st.SchemaVersion, trivydb.SchemaVersion)
		}
		return st, nil
	}
	if !force && !needsUpdate(st, stErr, time.Now()) {
		if err := validateDB(db.Dir(opts.CacheDir)); err == nil {
			return st, nil
		}
		// The cached DB is damaged: download it again rather than fail every scan.
	}
	if err := downloadDB(ctx, opts); err != nil {
		return st, err
	}
	return ReadDBStatus(opts.CacheDir)
}

func downloadDB(ctx context.Context, opts DBOptions) error {
	repoNames := opts.Repositories
	if len(repoNames) == 0 {
		repoNames = engine.DefaultDBRepositories
	}
	repos, err := ParseDBRepositories(repoNames, "db-repository")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(opts.CacheDir, "db-download-")
	if err != nil {
		return fmt.Errorf("cache folder %s: %w", opts.CacheDir, err)
	}
	defer os.RemoveAll(tmp)

	// Try each repository in turn (as Trivy does), remembering which one served.
	var failures []string
	source := ""
	for _, ref := range repos {
		client := db.NewClient(tmp, opts.NoProgress, db.WithDBRepository([]name.Reference{ref}))
		dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
		err := client.Download(dctx, tmp, ftypes.RegistryOptions{Insecure: opts.Insecure})
		cancel()
		if err != nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no complete download within %s", downloadTimeout)
		}
		if err == nil {
			err = validateDB(tmp)
		}
		if err == nil {
			source = ref.String()
			break
		}
		failures = append(failures, fmt.Sprintf("%s: %s", ref, registryCause(err)))
		if ctx.Err() != nil {
			break
		}
	}
	if source == "" {
		joined := strings.Join(failures, "; ")
		if strings.Contains(joined, "no space left on device") {
			return fmt.Errorf("cannot get a usable vulnerability DB: no space left on the device of %s: free some space or use --cache-dir on another disk (the cached DB, if any, is unchanged)", opts.CacheDir)
		}
		return fmt.Errorf("cannot get a usable vulnerability DB (%s): check --db-repository and the network, or use a cached DB with --skip-db-update", joined)
	}
	if err := os.WriteFile(filepath.Join(tmp, sourceFile), []byte(source+"\n"), 0o644); err != nil {
		return err
	}
	dst := db.Dir(opts.CacheDir)
	old := dst + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Rename(old, dst)
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	_ = os.RemoveAll(old)
	return nil
}

// validateDB checks that dir holds a BoltDB file that opens and a metadata.json of the
// schema this build reads.
func validateDB(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err != nil {
		return fmt.Errorf("the artifact holds no metadata.json")
	}
	var meta metadata.Metadata
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("metadata.json is not valid JSON: %v", err)
	}
	if meta.Version != trivydb.SchemaVersion {
		return fmt.Errorf("DB schema %d, this build needs %d", meta.Version, trivydb.SchemaVersion)
	}
	bdb, err := bolt.Open(trivydb.Path(dir), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("the artifact's trivy.db is corrupt: %v", err)
	}
	return bdb.Close()
}

// registryCause is rootCause without go-containerregistry's structured detail
// ("; map[Tag:2]") and Trivy's temporary paths, with a hint for refused credentials.
func registryCause(err error) string {
	msg := rootCause(err)
	if i := strings.Index(msg, "; map["); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "; [map["); i >= 0 {
		msg = msg[:i]
	}
	msg = tmpPath.ReplaceAllString(msg, "")
	if strings.Contains(msg, "UNAUTHORIZED") || strings.Contains(msg, "DENIED") {
		msg += " (log in with 'docker login' for that registry)"
	}
	if strings.Contains(msg, "MANIFEST_UNKNOWN") {
		msg += " (no DB artifact at that reference)"
	}
	return strings.TrimSpace(msg)
}

var tmpPath = regexp.MustCompile(`\S*/trivy-\d+/\S*:? ?`)

// rootCause strips Trivy's nested "x error: y error: ..." prefixes down to the last two
// parts, which name the actual failure.
func rootCause(err error) string {
	parts := strings.Split(strings.Join(strings.Fields(err.Error()), " "), ": ")
	if len(parts) > 3 {
		parts = parts[len(parts)-3:]
	}
	return strings.Join(parts, ": ")
}

// downloadTimeout bounds one DB download attempt; stalls are caught sooner by the
// transport's response timeout (setTransport).
const downloadTimeout = 10 * time.Minute

// stallGuard is Trivy's HTTP transport with timeouts for a registry that accepts the
// connection and then never answers (Trivy's own only bounds the dial).
type stallGuard struct{ base xhttp.Transport }

func (s stallGuard) Build(opts ...xhttp.TransportOption) http.RoundTripper {
	return s.base.Build(append(opts, func(t *http.Transport) {
		t.ResponseHeaderTimeout = 30 * time.Second
		t.TLSHandshakeTimeout = 30 * time.Second
	})...)
}

// setTransport installs the HTTP transport Trivy uses for registries (process-wide).
func setTransport(insecure bool) {
	xhttp.SetDefaultTransport(stallGuard{xhttp.NewTransport(xhttp.Options{Timeout: 30 * time.Second, Insecure: insecure})})
}

// UpdateJavaDB downloads Trivy's Java DB (needed to scan .jar files) into
// CacheDir/java-db now, from opts.JavaRepositories (default Trivy's), so that later
// scans work offline with --skip-db-update.
func UpdateJavaDB(ctx context.Context, opts DBOptions) error {
	setTransport(opts.Insecure)
	repos, err := javaRepositories(opts.JavaRepositories)
	if err != nil {
		return err
	}
	javadb.Init(opts.CacheDir, repos, false, opts.NoProgress, ftypes.RegistryOptions{Insecure: opts.Insecure})
	if err := javadb.Update(); err != nil {
		return fmt.Errorf("cannot download the Java DB: %s", registryCause(err))
	}
	return nil
}
