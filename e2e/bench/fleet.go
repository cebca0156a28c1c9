package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var fleetMode = flag.String("fleet", "also", "the fleet section (issue 12: 12 runners with and without a Trivy server): also (after the other measurements), only (measure it alone and replace its section of -out), off (keep the section as it is)")

const fleetHeading = "\n## Fleet: 12 runners, with and without a Trivy server"

// fleetDBMB pads the DB artifact to about the size of Trivy's real DB (the fixture DB
// is 27 KB), so that the bytes each runner downloads are those of a real fleet.
const fleetDBMB = 80

// fleetLine is the figures line e2e's FleetOf12Runners logs.
var fleetLine = regexp.MustCompile(`FLEET FIGURES \((\S+), (\d+) runners\): through the server: wave 1 (\S+) \((\d+) layer analyses\), wave 2 (\S+) \(0\), DB bytes downloaded by runners 0 \(the server: 1 x (\d+)\); without the server: (\S+) \((\d+) layer analyses\), DB downloaded (\d+) times \((\d+) bytes`)

type fleetRun struct {
	engine, runners                      string
	wave1, wave2, local                  string
	serverAnalyses, localAnalyses        string
	artifact, downloads, downloadedLocal int64
	took                                 time.Duration
}

// measureFleet runs e2e's FleetOf12Runners on one engine (its own private daemon,
// registry, Redis and Trivy server; the DB padded to fleetDBMB MB) and reads its
// figures line. The test asserts the fleet's behaviour (every push gated, no DB on
// the runners, the shared base analysed once, a second wave served from Redis); the
// figures are what it measured.
func measureFleet(engine, pluginPath string) (*fleetRun, error) {
	t0 := time.Now()
	cmd := exec.Command("go", "test", "-tags", "e2e", "-count=1", "-timeout", "40m", "-run", "TestDaemon/docker-"+engine+"/FleetOf12Runners$", "-v", "./e2e")
	cmd.Env = append(os.Environ(), "GOEXPERIMENT=jsonv2", "SECSCAN_E2E_ENGINES="+engine, "SECSCAN_BINARY="+pluginPath, "SECSCAN_FLEET_DB_MB="+strconv.Itoa(fleetDBMB))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("the fleet test on docker %s failed: %v\n%s", engine, err, tail(string(out), 3000))
	}
	m := fleetLine.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("the fleet test on docker %s logged no figures:\n%s", engine, tail(string(out), 3000))
	}
	n := func(b []byte) int64 { v, _ := strconv.ParseInt(string(b), 10, 64); return v }
	return &fleetRun{engine: string(m[1]), runners: string(m[2]), wave1: string(m[3]), serverAnalyses: string(m[4]), wave2: string(m[5]),
		artifact: n(m[6]), local: string(m[7]), localAnalyses: string(m[8]), downloads: n(m[9]), downloadedLocal: n(m[10]), took: time.Since(t0)}, nil
}

func writeFleet(runs []*fleetRun) string {
	var b strings.Builder
	b.WriteString(fleetHeading + "\n\n")
	fmt.Fprintf(&b, "Issue 12's fleet, measured by `make bench` (or alone: `go run ./e2e/bench -fleet only -plugin bin/docker-secscan`), %s: e2e's `FleetOf12Runners` on each engine — 12 concurrent `docker secscan push` processes, each with its own empty `--cache-dir` (12 runners), 12 images built on one alpine base; the DB artifact padded to %d MB (about Trivy's real DB). Through the server: `--server` (a private `trivy server` v0.74.0 with a Redis cache) and `--cache-backend` (the same Redis); the second wave is 12 new runners with empty cache folders. Without the server: the same 12 runners with `--db-repository`, each downloading its own DB. One wall-time figure per wave (not a median: a wave is 12 processes at once on 2 cores, shared with other builds).\n\n", time.Now().UTC().Format("2006-01-02"), fleetDBMB)
	b.WriteString("| engine | wave | wall time | DB bytes downloaded by the runners | layer analyses |\n|---|---|---|---|---|\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "| docker %s | through the server, first wave | %s | 0 (the server: %s once) | %s (the shared base once) |\n", r.engine, r.wave1, mb(r.artifact), r.serverAnalyses)
		fmt.Fprintf(&b, "| docker %s | through the server, second wave | %s | 0 | 0 (no export, no engine: the scans come from Redis) |\n", r.engine, r.wave2)
		fmt.Fprintf(&b, "| docker %s | without the server | %s | %s (%d × %s) | %s |\n", r.engine, r.local, mb(r.downloadedLocal), r.downloads, mb(r.artifact), r.localAnalyses)
	}
	b.WriteString("\nOn loopback a download costs little time; most of a cold wave is 12 engines starting and 12 exports on 2 cores. Across a network the saving is the DB downloads (and the rate limits of Trivy's public DB).\n")
	return b.String()
}

// runFleet measures the fleet on every engine and replaces its section of -out.
func runFleet(names []string, pluginPath string) error {
	var runs []*fleetRun
	for _, n := range names {
		logf("fleet: 12 runners on docker %s (the e2e test FleetOf12Runners)", n)
		r, err := measureFleet(n, pluginPath)
		if err != nil {
			return err
		}
		logf("fleet on docker %s: %s", n, r.took.Round(time.Second))
		runs = append(runs, r)
	}
	return spliceSection(*out, fleetHeading, writeFleet(runs))
}

// spliceSection replaces the section of the report at path that starts with heading
// (up to the next "## " heading), or appends it.
func spliceSection(path, heading, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if i := bytes.Index(old, []byte(heading)); i >= 0 {
		rest := old[i+len(heading):]
		end := len(old)
		if j := bytes.Index(rest, []byte("\n## ")); j >= 0 {
			end = i + len(heading) + j
		}
		old = append(old[:i:i], old[end:]...)
	}
	out := append(bytes.TrimRight(old, "\n"), '\n')
	out = append(out, section...)
	return os.WriteFile(path, out, 0o644)
}
