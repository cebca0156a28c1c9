package baseline

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-secscan/docker-secscan/internal/report"
)

func platformImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// archiveBlobs reads the archive's entry names and checks each is a blob named by the
// digest of its content's first bytes (full digests are checked by the engine).
func archiveBlobs(t *testing.T, rc io.ReadCloser) []string {
	t.Helper()
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			t.Fatal(err)
		}
		names = append(names, "sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/"))
	}
}

func TestFetchRemote(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	amd, arm := platformImage(t, "amd64"), platformImage(t, "arm64")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	multi, _ := name.NewTag(host + "/team/app:multi")
	single, _ := name.NewTag(host + "/team/app:single")
	if err := remote.WriteIndex(multi, idx); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(single, amd); err != nil {
		t.Fatal(err)
	}
	digestOf := func(x interface{ Digest() (v1.Hash, error) }) string { d, _ := x.Digest(); return d.String() }

	// A single manifest: taken as it is.
	r, err := FetchRemote(ctx, single.String(), Access{}, []string{"linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Digest != digestOf(amd) || !slices.Equal(r.Platforms, []string{"linux/amd64"}) || len(r.DiffIDs) != 2 {
		t.Fatalf("single: %+v", r)
	}
	blobs := archiveBlobs(t, r.Archive(ctx))
	cfg, _ := amd.ConfigName()
	layers, _ := amd.Layers()
	want := []string{digestOf(amd), cfg.String(), digestOf(layers[0]), digestOf(layers[1])}
	if !slices.Equal(blobs, want) {
		t.Fatalf("archive of a manifest = %v, want manifest, config, layers %v", blobs, want)
	}

	// An index: the platform asked for (a variant matches a platform without one).
	r, err = FetchRemote(ctx, multi.String(), Access{}, []string{"linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Digest != digestOf(idx) || !slices.Equal(r.Platforms, []string{"linux/arm64/v8"}) || !slices.Equal(r.Manifests, []string{digestOf(arm)}) {
		t.Fatalf("index, arm64: %+v", r)
	}
	blobs = archiveBlobs(t, r.Archive(ctx))
	if len(blobs) != 5 || blobs[0] != digestOf(idx) || blobs[1] != digestOf(arm) {
		t.Fatalf("archive of an index = %v: want the index, the arm64 manifest, config and 2 layers", blobs)
	}
	// Every platform when none is asked for.
	if r, err = FetchRemote(ctx, multi.String(), Access{}, nil); err != nil || len(r.Manifests) != 2 {
		t.Fatalf("index, all: %+v %v", r, err)
	}
	// A platform the index lacks.
	if _, err = FetchRemote(ctx, multi.String(), Access{}, []string{"linux/s390x"}); err == nil || !strings.Contains(err.Error(), "no image for linux/s390x (it has linux/amd64, linux/arm64/v8)") {
		t.Fatalf("missing platform: %v", err)
	}
	// No such tag, no such repository.
	for _, ref := range []string{host + "/team/app:nope", host + "/team/other:1"} {
		if _, err = FetchRemote(ctx, ref, Access{}, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", ref, err)
		}
	}
}

func TestSamePlatform(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/amd64", "windows/amd64", false},
		{"linux", "linux/amd64", false},
	} {
		if got := samePlatform(c.a, c.b); got != c.want {
			t.Errorf("samePlatform(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestOnPlatforms(t *testing.T) {
	fs := []report.Finding{{VulnerabilityID: "A", Platform: "linux/amd64"}, {VulnerabilityID: "B", Platform: "linux/arm64/v8"}, {VulnerabilityID: "C"}}
	var got []string
	for _, f := range OnPlatforms(fs, []string{"linux/arm64"}) {
		got = append(got, f.VulnerabilityID)
	}
	if !slices.Equal(got, []string{"B", "C"}) {
		t.Fatalf("OnPlatforms = %v, want B (arm64/v8 is arm64) and C (no platform)", got)
	}
}
