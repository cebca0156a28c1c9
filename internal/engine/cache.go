package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/sys/atomicwriter"

	"github.com/docker-secscan/docker-secscan/internal/version"
)

// LocalDB reads the cached DB's metadata.json (Trivy's layout: CacheDir/db) without
// starting the engine, and says whether a scan would use it as it is: by Trivy's update
// rule (pkg/db.Client.NeedsUpdate), the DB is current when its schema matches and it
// is before NextUpdate or was downloaded less than an hour ago; with skipUpdate any
// DB of the right schema is used.
func LocalDB(cacheDir string, skipUpdate bool, now time.Time) (st DBStatus, current bool) {
	dir := filepath.Join(cacheDir, "db")
	st.Path = filepath.Join(dir, "trivy.db")
	b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err != nil {
		return st, false
	}
	var meta struct {
		Version                             int
		NextUpdate, UpdatedAt, DownloadedAt time.Time
	}
	if json.Unmarshal(b, &meta) != nil || meta.Version != DBSchemaVersion {
		return st, false
	}
	if _, err := os.Stat(st.Path); err != nil {
		return st, false
	}
	st.SchemaVersion, st.UpdatedAt, st.NextUpdate, st.DownloadedAt = meta.Version, meta.UpdatedAt, meta.NextUpdate, meta.DownloadedAt
	if skipUpdate {
		return st, true
	}
	return st, !meta.DownloadedAt.IsZero() && (now.Before(meta.NextUpdate) || now.Before(meta.DownloadedAt.Add(time.Hour)))
}

// ScanCache keeps engine scan results on disk, keyed by what determines them: the
// image ID, the DB (its UpdatedAt), the scan options, the Trivy version and this
// build's version (a fixed engine must not reuse what an older one found). A hit
// makes a re-scan of an unchanged image cost no image export and no engine start.
type ScanCache struct{ Dir string }

// Key is the cache key of a scan request against the DB updated at dbUpdated.
func (c ScanCache) Key(req ScanRequest, dbUpdated time.Time) string {
	h := sha256.New()
	// v3: keyed by platform and by the platform images present too (an index gains
	// platforms under the same ID when they are pulled or loaded later), and scans made
	// before images were resolved through indexes and manifests (v2: an index read as
	// a config gave an empty scan) are gone. v4: scans through a Trivy server made
	// before they ran the best-practice checks and the release check are gone.
	fmt.Fprintf(h, "v4\x00%s\x00%s\x00%s\x00%s\x00%t\x00%s\x00%s", req.Image.ID, req.Image.Platform, strings.Join(req.Image.Available, ","), dbUpdated.UTC().Format(time.RFC3339Nano), req.BestPractices, TrivyVersion, version.Version)
	if req.Server != nil {
		// Through a Trivy server: its DB (dbUpdated), but no release check against a
		// local DB (see scanner's osDataGaps).
		fmt.Fprintf(h, "\x00server")
	}
	if req.Secrets {
		// The secret scanner and its rules (the content of the secret-config file).
		fmt.Fprintf(h, "\x00secrets\x00%s\x00", req.SecretConfig)
		if b, err := os.ReadFile(req.SecretConfig); err == nil {
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Get returns the cached response for key.
func (c ScanCache) Get(key string) (ScanResponse, bool) {
	b, err := os.ReadFile(filepath.Join(c.Dir, key+".json"))
	if err != nil {
		return ScanResponse{}, false
	}
	var r ScanResponse
	if json.Unmarshal(b, &r) != nil || len(r.Trivy) == 0 || r.Scan.Scanner == "" || r.Scan.Image.ID == "" {
		return ScanResponse{}, false
	}
	return r, true
}

// Put stores a response (best effort, atomically).
func (c ScanCache) Put(key string, r ScanResponse) {
	b, err := json.Marshal(r)
	if err != nil || os.MkdirAll(c.Dir, 0o700) != nil {
		return
	}
	_ = atomicwriter.WriteFile(filepath.Join(c.Dir, key+".json"), b, 0o600)
}

// Response is the engine's answer behind the result, for ScanCache.Put.
func (r *Result) Response() ScanResponse {
	return ScanResponse{Scan: r.Scan, DB: r.DBStatus, Trivy: r.trivy}
}

// NewResult wraps a (cached) engine response so that it renders through c.
func (c *Client) NewResult(resp ScanResponse) *Result {
	return &Result{Scan: resp.Scan, DBStatus: resp.DB, trivy: resp.Trivy, client: c}
}

// AttachRenders makes r keep its rendered reports in the cache folder, next to the
// scans, so that they are rendered once per scan, format and suppressions.
func (c ScanCache) AttachRenders(r *Result) { r.renderDir = filepath.Join(c.Dir, "renders") }

// ImageConfigDir is where, under the cache folder, the engine keeps the records of the
// images it analysed (named by image ID hex: the index, manifests and configs that the
// ID names), so that a re-scan against a new DB needs no image when the layer cache
// holds every layer.
const ImageConfigDir = "image-configs"

// ImageConfigPath is where the engine keeps the record of image id ("sha256:...").
func ImageConfigPath(cacheDir, id string) string {
	return filepath.Join(cacheDir, ImageConfigDir, strings.TrimPrefix(id, "sha256:")+".json")
}

// ImageConfigCached reports whether the engine kept the record of image id in
// cacheDir, i.e. analysed that image before.
func ImageConfigCached(cacheDir, id string) bool {
	_, err := os.Stat(ImageConfigPath(cacheDir, id))
	return err == nil
}
