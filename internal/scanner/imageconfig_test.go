package scanner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	ftypes "github.com/aquasecurity/trivy/pkg/fanal/types"
	"github.com/aquasecurity/trivy/pkg/types"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// fakeCache is a shared cache that has every entry, and an artifact entry without
// the config's checks (what a Trivy server keeps: its cache RPC drops them).
type fakeCache struct{ puts int }

func (f *fakeCache) MissingBlobs(context.Context, string, []string) (bool, []string, error) {
	return false, nil, nil
}
func (f *fakeCache) PutArtifact(context.Context, string, ftypes.ArtifactInfo) error {
	f.puts++
	return nil
}
func (f *fakeCache) PutBlob(context.Context, string, ftypes.BlobInfo) error { return nil }
func (f *fakeCache) DeleteBlobs(context.Context, []string) error            { return nil }
func (f *fakeCache) GetArtifact(context.Context, string) (ftypes.ArtifactInfo, error) {
	return ftypes.ArtifactInfo{SchemaVersion: 1}, nil
}
func (f *fakeCache) GetBlob(context.Context, string) (ftypes.BlobInfo, error) {
	return ftypes.BlobInfo{}, nil
}
func (f *fakeCache) Close() error                { return nil }
func (f *fakeCache) Clear(context.Context) error { return nil }

// fakeServer answers the Scan RPC as a Trivy server does for an image whose config has
// failed checks: the package results, no config result.
type fakeServer struct{}

func (fakeServer) Scan(context.Context, string, string, []string, types.ScanOptions) (types.ScanResponse, error) {
	return types.ScanResponse{Results: types.Results{
		{Target: "img (alpine 3.10.4)", Class: types.ClassOSPkg},
		{Target: "img", Class: types.ClassSecret, Secrets: []types.DetectedSecret{{RuleID: "x"}}},
	}}, nil
}

// TestImageConfigChecksThroughASharedCache: with best-practice checks and a shared
// cache, the config is analysed here whatever the shared entry says (reported missing),
// a local scan reads this analysis, and a server's answer gets its checks, counted as
// checks that ran; a server scan whose config was not analysed here fails, it never
// passes without the checks.
func TestImageConfigChecksThroughASharedCache(t *testing.T) {
	ctx := context.Background()
	fc := &fakeCache{}
	c := newConfigCapture(fc, fc, true)
	if missing, _, _ := c.MissingBlobs(ctx, "sha256:art", nil); !missing {
		t.Fatal("the shared artifact entry is trusted: the config is not analysed here")
	}
	if missing, _, _ := newConfigCapture(fc, fc, false).MissingBlobs(ctx, "sha256:art", nil); missing {
		t.Fatal("not forced: the entry should be found")
	}
	if missing, _, _ := c.MissingBlobs(ctx, "", []string{"sha256:layer"}); missing {
		t.Fatal("a question about layers only reports an artifact missing")
	}
	info := ftypes.ArtifactInfo{SchemaVersion: 1, Misconfiguration: &ftypes.Misconfiguration{
		FileType: "dockerfile",
		Failures: ftypes.MisconfResults{{Namespace: "builtin.dockerfile.DS002", Query: "q", Message: "root",
			PolicyMetadata: ftypes.PolicyMetadata{ID: "DS-0002", AVDID: "AVD-DS-0002", Title: "root user", Severity: "HIGH"}}},
		Successes: ftypes.MisconfResults{{Namespace: "builtin.dockerfile.DS005", PolicyMetadata: ftypes.PolicyMetadata{ID: "DS-0005"}}},
	}}
	rb := remoteBackend{Backend: fakeServer{}, capture: c, bestPractices: true}
	if _, err := rb.Scan(ctx, "img", "sha256:art", nil, types.ScanOptions{}); err == nil {
		t.Fatal("a server scan without the config analysed here passed")
	}
	if err := c.PutArtifact(ctx, "sha256:art", info); err != nil || fc.puts != 1 {
		t.Fatalf("PutArtifact: %v, %d puts", err, fc.puts)
	}
	got, err := c.localCache().GetArtifact(ctx, "sha256:art")
	if err != nil || got.Misconfiguration == nil {
		t.Fatalf("a local scan reads the shared entry, not this analysis: %+v %v", got, err)
	}
	resp, err := rb.Scan(ctx, "img", "sha256:art", nil, types.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 3 || resp.Results[1].Class != types.ClassConfig || resp.Results[1].Target != "img" {
		t.Fatalf("the config's checks are not after the package results: %+v", resp.Results)
	}
	if n := len(resp.Results[1].Misconfigurations); n != 2 {
		t.Fatalf("%d checks, want the failed and the passed one", n)
	}
	// A server that returns them itself does not get them twice.
	if again := withConfigChecks(resp.Results, "img", info); len(again) != 3 {
		t.Fatalf("checks added twice: %d results", len(again))
	}
}

// TestSharedCacheErrorNamesTheBackend: a Redis that stops or freezes in the middle of a
// scan without a server (Trivy's Redis backend) is named, without its password, with
// what to do; other errors are left as they are.
func TestSharedCacheErrorNamesTheBackend(t *testing.T) {
	s := &Scanner{opts: Options{Cache: &engine.CacheBackend{URL: "redis://:pw-secret-1@10.0.0.5:6379/0"}}}
	ctx := context.Background()
	for _, cause := range []error{
		fmt.Errorf("write the layer cache: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}),
		fmt.Errorf("read the layer cache: unable to check: %w", errors.New("redis: connection pool timeout")),
	} {
		err := s.sharedCacheError(ctx, cause)
		if err == nil || !strings.Contains(err.Error(), "the Redis cache redis://***@10.0.0.5:6379/0 failed in the middle of the scan") || strings.Contains(err.Error(), "pw-secret-1") {
			t.Errorf("%v: %v", cause, err)
		}
	}
	if err := s.sharedCacheError(ctx, errors.New("WRONGPASS invalid username-password pair or user is disabled.")); err == nil || !strings.Contains(err.Error(), "refused the password") {
		t.Errorf("WRONGPASS: %v", err)
	}
	if err := s.sharedCacheError(ctx, errors.New("analyse a layer: bad tar header")); err != nil {
		t.Errorf("a layer error is worded as a Redis one: %v", err)
	}
}
