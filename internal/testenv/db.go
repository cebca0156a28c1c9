package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of Trivy's DB artifact (trivy pkg/db; design notes, fact 13).
const (
	DBLayerMediaType  = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	DBConfigMediaType = "application/vnd.aquasec.trivy.config.v1+json"
)

// BuildDB loads bolt-fixtures YAML files (bucket -> key -> value, the format of Trivy's
// integration fixtures) into dir/trivy.db and writes dir/metadata.json for DB schema 2,
// updated at updatedAt and due for update 24 hours later... unless nextUpdate is set.
func BuildDB(dir string, fixtureFiles []string, updatedAt, nextUpdate time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "trivy.db")
	_ = os.Remove(dbPath)
	l, err := fixtures.New(dbPath, fixtureFiles)
	if err != nil {
		return fmt.Errorf("open %s: %v", dbPath, err)
	}
	if err := l.Load(); err != nil {
		l.Close()
		return fmt.Errorf("load fixtures: %v", err)
	}
	if err := l.Close(); err != nil {
		return err
	}
	meta := map[string]any{
		"Version":      2,
		"NextUpdate":   nextUpdate.UTC(),
		"UpdatedAt":    updatedAt.UTC(),
		"DownloadedAt": time.Time{},
	}
	b, _ := json.Marshal(meta)
	return os.WriteFile(filepath.Join(dir, "metadata.json"), b, 0o644)
}

// DBArchive returns db.tar.gz: the named files of dir at the archive root.
func DBArchive(dir string, files ...string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: f, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PushDBArtifact pushes layer (a db.tar.gz) to ref as Trivy's OCI DB artifact: one layer
// of DBLayerMediaType titled db.tar.gz, config of DBConfigMediaType.
// 127.0.0.1 registries are reached over plain HTTP.
func PushDBArtifact(ctx context.Context, ref string, layer []byte) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, DBConfigMediaType)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(layer, DBLayerMediaType),
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"},
	})
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithContext(ctx))
}

// PublishDB builds a DB from fixture files and pushes it to ref in one step.
func PublishDB(ctx context.Context, workDir, ref string, fixtureFiles []string) error {
	now := time.Now()
	if err := BuildDB(workDir, fixtureFiles, now, now.Add(24*time.Hour)); err != nil {
		return err
	}
	layer, err := DBArchive(workDir, "trivy.db", "metadata.json")
	if err != nil {
		return err
	}
	return PushDBArtifact(ctx, ref, layer)
}
