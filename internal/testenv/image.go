package testenv

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ApkPackage is one entry of an Alpine package database (/lib/apk/db/installed).
type ApkPackage struct {
	Name, Version, Origin string
}

// AlpineFiles returns the files that make an Alpine system to a scanner: os-release
// for the given release (e.g. "3.9.4") and the apk database listing packages.
func AlpineFiles(release string, pkgs []ApkPackage) map[string][]byte {
	var db strings.Builder
	for _, p := range pkgs {
		origin := p.Origin
		if origin == "" {
			origin = p.Name
		}
		fmt.Fprintf(&db, "C:Q1demo=\nP:%s\nV:%s\nA:x86_64\nS:1024\nI:4096\nT:%s package\nU:https://alpinelinux.org\nL:MIT\no:%s\n\n", p.Name, p.Version, p.Name, origin)
	}
	return map[string][]byte{
		"etc/os-release":       []byte(fmt.Sprintf("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=%s\nPRETTY_NAME=\"Alpine Linux v%s\"\n", release, release)),
		"etc/alpine-release":   []byte(release + "\n"),
		"lib/apk/db/installed": []byte(db.String()),
	}
}

// Layer returns an uncompressed layer tar of the files (path -> content).
func Layer(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	dirs := map[string]bool{}
	for _, p := range paths {
		parts := strings.Split(p, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
					return nil, err
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteImageArchive writes a `docker load`-able archive of a FROM-scratch image whose
// layers are the given layer tars, tagged tag, for linux/amd64.
func WriteImageArchive(path, tag string, layers ...[]byte) (v1.Hash, error) {
	img := empty.Image
	for _, l := range layers {
		data := l
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			return v1.Hash{}, err
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return v1.Hash{}, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.User = "65534"
	// A history entry per layer, as a builder writes (scanners rebuild a Dockerfile from it).
	cf.History = nil
	for i := range layers {
		cf.History = append(cf.History, v1.History{Created: v1.Time{Time: time.Unix(0, 0).UTC()}, CreatedBy: fmt.Sprintf("ADD layer%d.tar / # buildkit", i)})
	}
	cf.History = append(cf.History, v1.History{Created: v1.Time{Time: time.Unix(0, 0).UTC()}, CreatedBy: `CMD ["/bin/sh"]`, EmptyLayer: true})
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, err
	}
	t, err := name.NewTag(tag)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := tarball.WriteToFile(path, t, img); err != nil {
		return v1.Hash{}, err
	}
	return img.ConfigName()
}
