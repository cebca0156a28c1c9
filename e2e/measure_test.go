//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// testMeasure logs the wall time and peak memory of a cold and a warm scan of
// alpine-39 and of a gated push, for the figures in issue notes and BENCHMARKS.md.
// It asserts nothing about speed; run it with SECSCAN_MEASURE=1.
func testMeasure(t *testing.T) {
	if os.Getenv("SECSCAN_MEASURE") == "" {
		t.Skip("set SECSCAN_MEASURE=1 to measure")
	}
	needTestdata(t)
	ref := env.Registry + "/measure/alpine:39"
	loadImage(t, "images/alpine-39.tar.gz", ref)
	cache := t.TempDir()
	common := []string{"--cache-dir", cache, "--db-repository", dbRepo, "--no-progress", "-o", filepath.Join(t.TempDir(), "r.json"), "-f", "json"}
	measure := func(label string, args ...string) {
		cmd := env.Docker(configDir, args...)
		cmd.Path = "/usr/bin/time"
		cmd.Args = append([]string{"/usr/bin/time", "-v", dockerPath(t)}, args...)
		out, _ := cmd.CombinedOutput()
		wall := regexp.MustCompile(`Elapsed \(wall clock\) time.*: (\S+)`).FindSubmatch(out)
		rss := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindSubmatch(out)
		if wall == nil || rss == nil {
			t.Fatalf("%s: no figures:\n%s", label, out)
		}
		t.Logf("%-28s wall %s  peak RSS %s KiB", label, wall[1], rss[1])
	}
	measure("scan alpine-39 (cold cache)", append(append([]string{"secscan", "scan"}, common...), ref)...)
	measure("scan alpine-39 (warm cache)", append(append([]string{"secscan", "scan"}, common...), ref)...)
	measure("push alpine-39 --mode warn", append(append([]string{"secscan", "push", "--mode", "warn"}, common...), ref)...)
	measure("plain docker push", "push", ref)
	measure("plugin metadata", "secscan", "docker-cli-plugin-metadata")
	// Issue 13: what attaching the records adds to a push, and what verify costs.
	measure("push --mode warn (again)", append(append([]string{"secscan", "push", "--mode", "warn"}, common...), ref)...)
	measure("push --mode warn --attach", append(append([]string{"secscan", "push", "--mode", "warn", "--attach"}, common...), ref)...)
	// A cold scan with --attach: the records' renders come with the scan's engine call.
	cold := append([]string{"--cache-dir", t.TempDir(), "--db-repository", dbRepo, "--no-progress", "-o", filepath.Join(t.TempDir(), "r.json"), "-f", "json"}, "--mode", "warn", "--attach", ref)
	measure("push --attach (cold scan)", append([]string{"secscan", "push"}, cold...)...)
	measure("verify", "secscan", "verify", ref)
	measure("verify --rescan", "secscan", "verify", "--rescan", "--cache-dir", cache, "--skip-db-update", ref)
}
