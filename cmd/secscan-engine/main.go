// Command secscan-engine is docker-secscan's scan engine: the only binary that links
// Trivy. The docker-secscan plugin starts it for each scan, report rendering or DB
// operation, with one JSON request on stdin (types in package engine); it answers with
// one JSON response on stdout (or the rendered report) and writes progress and logs on
// stderr. Exit status: 0 done, 1 failed (the response is an engine.ErrorResponse).
//
// It is installed next to the plugin (docker-secscan) and not meant to be run by hand.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	// The SQLite driver Trivy's CLI links for RPM databases (RHEL 8+, Fedora, Amazon
	// Linux 2023 keep rpmdb.sqlite) and the Java DB: without it those images would
	// show no packages at all.
	_ "modernc.org/sqlite"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/scanner"
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) > 1 && os.Args[1] == engine.CmdServe {
		// A warm engine (serve.go): requests come over a unix socket.
		return serve(os.Args[2:])
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "secscan-engine is started by the docker-secscan plugin ('docker secscan ...'), not by hand")
		return 1
	}
	// Trivy buffers its log records until this runs.
	scanner.InitLogging(os.Getenv(engine.DebugEnv) == "1", false)
	defer privateTemp()()
	defer scanner.Cleanup()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fail(os.Stdout, err, "")
	}
	return handle(ctx, os.Args[1], in, os.Stdout, func() io.Reader { return os.NewFile(3, "image archive") })
}

// handle serves one request (command, its JSON in) as a one-shot engine serves its
// only one: the answer goes to stdout, the image archive of a streamed scan comes from
// archive (file descriptor 3, or the pipe a warm engine was given). It returns the exit
// status.
func handle(ctx context.Context, command string, in []byte, stdout io.Writer, archive func() io.Reader) int {
	if trivydb.SchemaVersion != engine.DBSchemaVersion {
		return fail(stdout, fmt.Errorf("internal: engine.DBSchemaVersion %d differs from trivy-db's %d", engine.DBSchemaVersion, trivydb.SchemaVersion), "")
	}
	var out any
	var err error
	switch command {
	case engine.CmdScan:
		var req engine.ScanRequest
		if err := decode(in, &req); err != nil {
			return fail(stdout, err, "")
		}
		out, err = scan(ctx, req, func(need bool) (io.Reader, error) {
			if req.Image.ArchivePath != "" {
				return openArchive(req.Image.ArchivePath)
			}
			// See engine.ScanReady: the archive comes on file descriptor 3.
			if err := json.NewEncoder(stdout).Encode(engine.ScanReady{NeedImage: need}); err != nil {
				return nil, err
			}
			// Large reads: the archive is the whole image, read once.
			return bufio.NewReaderSize(archive(), 1<<20), nil
		})
	case engine.CmdRender:
		var req engine.RenderRequest
		if err := decode(in, &req); err != nil {
			return fail(stdout, err, "")
		}
		res, rerr := scanner.ResultFromTrivy(req.Trivy)
		if rerr != nil {
			return fail(stdout, rerr, "")
		}
		var platforms []string
		if req.Image != nil {
			res.Rename(req.Image.Reference, req.Image.RepoTags, req.Image.RepoDigests)
			for _, p := range req.Image.Platforms {
				platforms = append(platforms, p.Platform)
			}
		}
		// The report is the whole stdout, written only once complete.
		var buf bytes.Buffer
		if err := res.Write(ctx, &buf, req.Format, scanner.WriteOptions{Suppressed: req.Suppressed, Platform: req.Platform, Platforms: platforms}); err != nil {
			return fail(stdout, err, "")
		}
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			return 1
		}
		return 0
	case engine.CmdDBUpdate:
		var req engine.DBUpdateRequest
		if err := decode(in, &req); err != nil {
			return fail(stdout, err, "")
		}
		var st engine.DBStatus
		st, err = scanner.EnsureDB(ctx, req.DB, req.Force)
		if err == nil && req.JavaDB {
			err = scanner.UpdateJavaDB(ctx, req.DB)
		}
		out = st
	case engine.CmdDBImport:
		var req engine.DBImportRequest
		if err := decode(in, &req); err != nil {
			return fail(stdout, err, "")
		}
		out, err = scanner.ImportDB(ctx, req.CacheDir, req.Path, req.JavaDB)
	case engine.CmdScanSBOM:
		var req engine.SBOMScanRequest
		if err := decode(in, &req); err != nil {
			return fail(stdout, err, "")
		}
		out, err = scanSBOM(ctx, req)
	case engine.CmdDBStatus:
		var req engine.DBStatusRequest
		if err := decode(in, &req); err != nil {
			return fail(stdout, err, "")
		}
		out, err = scanner.ReadDBStatus(req.CacheDir)
		if errors.Is(err, scanner.ErrNoDB) {
			return fail(stdout, err, engine.ErrKindNoDB)
		}
	default:
		return fail(stdout, fmt.Errorf("unknown engine command %q", command), "")
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(stdout, err, "")
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fail(stdout, err, "")
	}
	return 0
}

// openArchive opens a docker save archive file, gzip-compressed or not.
func openArchive(path string) (io.Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(br)
	}
	return br, nil
}

func scan(ctx context.Context, req engine.ScanRequest, archive scanner.Archive) (engine.ScanResponse, error) {
	sc, err := scanner.Open(ctx, scanner.Options{
		DB: req.DB, Parallel: req.Parallel, NoProgress: req.NoProgress, BestPractices: req.BestPractices,
		Secrets: req.Secrets, SecretConfig: req.SecretConfig,
		Server: req.Server, Cache: req.Cache,
		OnWait: func() {
			fmt.Fprintf(os.Stderr, "Waiting for another docker secscan that is using the cache %s ...\n", req.DB.CacheDir)
		},
	})
	if err != nil {
		return engine.ScanResponse{}, err
	}
	defer sc.Close()
	res, err := sc.Scan(ctx, req.Image, archive)
	if err != nil {
		return engine.ScanResponse{}, err
	}
	raw, err := res.Trivy()
	if err != nil {
		return engine.ScanResponse{}, err
	}
	resp := engine.ScanResponse{Scan: res.Scan, DB: sc.DB(), Trivy: raw}
	if len(req.Render) > 0 {
		sup := engine.ExceptedBy(req.Exceptions, resp.Scan, req.Now)
		resp.Renders = map[string][]byte{}
		for _, f := range req.Render {
			var buf bytes.Buffer
			if err := res.Write(ctx, &buf, f, scanner.WriteOptions{Suppressed: sup}); err != nil {
				return engine.ScanResponse{}, err
			}
			resp.Renders[f] = buf.Bytes()
		}
	}
	return resp, nil
}

func decode(in []byte, v any) error {
	if err := json.Unmarshal(in, v); err != nil {
		return fmt.Errorf("bad engine request: %v", err)
	}
	return nil
}

func fail(stdout io.Writer, err error, kind string) int {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	_ = json.NewEncoder(stdout).Encode(engine.ErrorResponse{Error: msg, Kind: kind})
	return 1
}
