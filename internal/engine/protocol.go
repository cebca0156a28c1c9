package engine

import (
	"encoding/json"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

// DebugEnv, set to 1 in the engine's environment, turns on Trivy's debug log.
const DebugEnv = "SECSCAN_ENGINE_DEBUG"

// Engine commands (the engine's first argument).
const (
	CmdScan     = "scan"
	CmdRender   = "render"
	CmdDBUpdate = "db-update"
	CmdDBStatus = "db-status"
	CmdDBImport = "db-import"
)

// ScanRequest asks for a scan of one image archive.
type ScanRequest struct {
	// Render lists report formats (of Formats) to render in the same engine process,
	// with the suppressions that Exceptions give at Now (see ExceptedBy): a cold scan
	// then starts one engine, not two.
	Render     []string           `json:"render,omitempty"`
	Exceptions []policy.Exception `json:"exceptions,omitempty"`
	Now        ScanTime           `json:"now"`

	DB            DBOptions `json:"db"`
	Image         Image     `json:"image"`
	BestPractices bool      `json:"bestPractices,omitempty"` // image-config checks (Dockle IDs)
	// Secrets runs Trivy's secret scanner on the image's files (policy gate.secrets
	// not off), with Trivy's secret-config file SecretConfig (an absolute path; "" for
	// Trivy's built-in rules).
	Secrets      bool   `json:"secrets,omitempty"`
	SecretConfig string `json:"secretConfig,omitempty"`
	Parallel     int    `json:"parallel,omitempty"` // layers analysed at once (0: Trivy's 5)
	NoProgress   bool   `json:"noProgress,omitempty"`
	// Server scans through a Trivy server (client/server mode): the layers are
	// analysed here and kept in the server's cache, the server finds the
	// vulnerabilities with its DB; no DB is downloaded or opened here.
	Server *ServerOptions `json:"server,omitempty"`
	// Cache is the Redis backend the runners share: without Server, the analysed
	// layers go there (Trivy's Redis cache backend) instead of the cache folder; with
	// Server the server's cache holds them. Either way, runners claim the layers they
	// analyse there, so that a layer several runners need at once is analysed once.
	Cache *CacheBackend `json:"cache,omitempty"`
}

// ScanReady is the first line the engine writes for a scan whose Image.ArchivePath is
// empty, once it knows whether it needs the image: with NeedImage, the plugin then
// streams the `docker save` archive into the pipe it gave the engine as file
// descriptor 3 and closes it; without, it closes that pipe unwritten (the image's
// config and layers are all cached). The request itself is the whole of stdin. The
// ScanResponse (or ErrorResponse) follows on the next line; an engine that fails before
// it is ready writes only the ErrorResponse.
type ScanReady struct {
	NeedImage bool `json:"needImage"`
}

// ScanResponse is the scan: our model, and Trivy's report for rendering later.
type ScanResponse struct {
	Scan  report.Scan     `json:"scan"`
	DB    DBStatus        `json:"dbStatus"`
	Trivy json.RawMessage `json:"trivy"` // Trivy's types.Report, whole (with packages)
	// Renders holds the reports asked for in ScanRequest.Render, by format.
	Renders map[string][]byte `json:"renders,omitempty"`
}

// ScanTime is the moment exceptions are judged at (shared by plugin and engine).
type ScanTime struct{ time.Time }

// RenderRequest asks for a report of a scan in one of Formats; the report is the
// engine's whole stdout.
type RenderRequest struct {
	Format     string          `json:"format"`
	Trivy      json.RawMessage `json:"trivy"`
	Suppressed []Suppression   `json:"suppressed,omitempty"`
	// Image names the scanned image in the report (artifact name, targets, repo tags and
	// digests) when a cached scan made under another reference is reported again.
	Image *report.Image `json:"image,omitempty"`
	// Platform, when set (os/arch[/variant]), renders only that platform image's results
	// of a multi-platform scan, under Trivy's own target names.
	Platform string `json:"platform,omitempty"`
}

// DBUpdateRequest asks for the DB (and optionally the Java DB) to be made available:
// downloaded when Trivy's rule says so, or always with Force.
type DBUpdateRequest struct {
	DB     DBOptions `json:"db"`
	Force  bool      `json:"force,omitempty"`
	JavaDB bool      `json:"javaDB,omitempty"`
}

// DBImportRequest asks for the DB (or, with JavaDB, the Java DB) at Path to be checked
// and to replace the cached one: Trivy's db.tar.gz (javadb.tar.gz), a folder holding
// the DB files and metadata.json, or an OCI image layout of the DB artifact.
type DBImportRequest struct {
	CacheDir string `json:"cacheDir"`
	Path     string `json:"path"` // absolute
	JavaDB   bool   `json:"javaDB,omitempty"`
}

// DBStatusRequest asks for the status of the cached DB.
type DBStatusRequest struct {
	CacheDir string `json:"cacheDir"`
}

// Error kinds the engine reports, so the plugin can react without parsing messages.
const (
	ErrKindNoDB = "no-db" // no usable DB in the cache
)

// ErrorResponse is what the engine prints (and exit 1) when a request failed.
type ErrorResponse struct {
	Error string `json:"error"` // one line
	Kind  string `json:"kind,omitempty"`
}
