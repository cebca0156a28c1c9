package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// The warm scan engine (issue 16) against its targets: each figure paired with its
// peer measured in the same run, alternating who goes first.

var warmMode = flag.String("warm", "also", "the warm scan engine's section: also (after the other measurements), only (measure it alone and replace its section of -out), off (keep the section as it is)")

const warmHeading = "\n## Warm scan engine"

type warmRow struct {
	image, what string
	ours, peer  []sample
	oursName    string
	peerName    string
	target      string
	ratioWant   float64
}

type warmRun struct {
	title   string
	rows    []warmRow
	log     []string
	rss     []string
	busy    []string
	took    time.Duration
	version string
	hop     sample // docker secscan version: the docker CLI and plugin start-up
}

var pidRe = regexp.MustCompile(`running, pid (\d+)`)

// procMem reads VmRSS, RssAnon and RssFile of pid (KiB).
func procMem(pid int) (rss, anon, file int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "RssAnon:":
			anon = n
		case "RssFile:":
			file = n
		}
	}
	return
}

// measureWarm measures the warm engine on one Docker engine.
func measureWarm(name string, in *inputs) (*warmRun, error) {
	start := time.Now()
	env, err := testenv.StartEngine(name, logf)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	res := &warmRun{}
	cli := env.CLI
	if cli == "" {
		cli = "docker"
	}
	if cli, err = exec.LookPath(cli); err != nil {
		return nil, err
	}
	cfg := filepath.Join(env.Dir, "bench-config")
	if err := env.LinkCLIPlugins(cfg); err != nil {
		return nil, err
	}
	os.Symlink(in.pluginPath, filepath.Join(cfg, "cli-plugins", "docker-secscan"))
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte("{}"), 0o600)
	// The warm engine is off in CI: the bench says which it measures.
	denv := []string{"DOCKER_HOST=" + env.DockerHost, "DOCKER_CONFIG=" + cfg, "CI=", "SECSCAN_ENGINE_IDLE="}
	dockerOut, docker := dockerRunner(cli, denv)
	res.title = "Docker 20.10 (Debian's docker.io), classic image store"
	if env.Engine != "20.10" {
		res.title = "Docker " + env.Engine + ", containerd image store"
	}
	if v, err := dockerOut("version", "--format", "client {{.Client.Version}}, server {{.Server.Version}}"); err == nil {
		res.version = strings.TrimSpace(string(v))
	}
	dbRepo := env.Registry + "/trivy-db"
	if err := testenv.PublishDB(context.Background(), filepath.Join(env.Dir, "dbbuild"), dbRepo+":2", in.fixtures); err != nil {
		return nil, err
	}
	seed := filepath.Join(env.Dir, "seed-cache")
	if out, err := dockerOut("secscan", "db", "update", "--no-progress", "--cache-dir", seed, "--db-repository", dbRepo, "--engine-idle", "0"); err != nil {
		return nil, fmt.Errorf("db update: %v\n%s", err, out)
	}
	// Short paths: the warm engine's socket lives in the cache folder.
	cacheRoot, _ := os.MkdirTemp("", "wb")
	defer os.RemoveAll(cacheRoot)
	n := 0
	freshCache := func() string {
		n++
		dir := filepath.Join(cacheRoot, strconv.Itoa(n))
		os.MkdirAll(dir, 0o755)
		exec.Command("cp", "-a", filepath.Join(seed, "db"), filepath.Join(dir, "db")).Run()
		return dir
	}
	stopEngine := func(cache string) {
		docker("secscan", "engine", "stop", "--cache-dir", cache)
	}
	enginePID := func(cache string) int {
		out, _ := dockerOut("secscan", "engine", "status", "--cache-dir", cache)
		if m := pidRe.FindSubmatch(out); m != nil {
			p, _ := strconv.Atoi(string(m[1]))
			return p
		}
		return 0
	}
	scan := func(cache, idle, img string) (sample, error) {
		// The scan cache is dropped: each run scans (the engine answers).
		os.RemoveAll(filepath.Join(cache, "scans"))
		return timed(denv, cli, "secscan", "scan", "--skip-db-update", "--no-progress", "--best-practices", "off", "--secrets", *secrets,
			"--engine-idle", idle, "--cache-dir", cache, "-f", "json", "-o", "/dev/null", img)
	}
	rescan := func(cache, img string) (sample, error) {
		return timed(denv, cli, "secscan", "scan", "--skip-db-update", "--no-progress", "--best-practices", "off", "--secrets", *secrets,
			"--engine-idle", "10m", "--cache-dir", cache, "-f", "json", "-o", "/dev/null", img)
	}
	trivy := func(cache, img string) (sample, error) {
		return timed(denv, in.trivy, "image", "--quiet", "--skip-db-update", "--skip-java-db-update", "--scanners", "vuln",
			"--image-src", "docker", "--cache-dir", cache, "-f", "json", "-o", "/dev/null", img)
	}
	pair := func(i int, a, b func() (sample, error)) (sample, sample, error) {
		var x, y sample
		var err error
		if i%2 == 0 {
			if x, err = a(); err == nil {
				y, err = b()
			}
		} else {
			if y, err = b(); err == nil {
				x, err = a()
			}
		}
		return x, y, err
	}

	// Images: alpine-39 (from the test data), the generated 1 GiB image, and per run a
	// new FROM scratch Alpine minirootfs (a new layer each time) and a new top layer on
	// alpine-39.
	lout, err := dockerOut("load", "-q", "-i", filepath.Join(*testdata, "images", "alpine-39.tar.gz"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`Loaded image(?: ID)?: (\S+)`).FindSubmatch(lout)
	if m == nil {
		return nil, fmt.Errorf("docker load printed no image: %s", lout)
	}
	if err := docker("tag", string(m[1]), "bench/alpine:39"); err != nil {
		return nil, err
	}
	if err := docker("load", "-q", "-i", in.big); err != nil {
		return nil, err
	}
	minirootfs := func(i int) (string, error) {
		files := testenv.AlpineFiles("3.9.4", []testenv.ApkPackage{{Name: "musl", Version: "1.1.20-r4"}, {Name: "libssl1.1", Version: "1.1.1b-r1", Origin: "openssl"}, {Name: "busybox", Version: "1.29.3-r10"}})
		files["etc/stamp"] = []byte(fmt.Sprintf("%d %s", i, time.Now()))
		l, err := testenv.Layer(files)
		if err != nil {
			return "", err
		}
		tag := fmt.Sprintf("bench/scratch:%d", i)
		archive := filepath.Join(env.Dir, "scratch.tar")
		if _, err := testenv.WriteImageArchive(archive, tag, l); err != nil {
			return "", err
		}
		return tag, docker("load", "-q", "-i", archive)
	}
	// The base of the "new top layer" images: alpine-39 as loaded. On Docker 29 its
	// export keeps that layer a plain tar under BuildKit's gzip top layer, which
	// Trivy v0.74.0 cannot read (BENCHMARKS.md, "What differs between the engines"):
	// there the base is the same Alpine 3.9.4 minirootfs docker-imported (gzip).
	base, baseName := "bench/alpine:39", "bench/alpine:39"
	if env.Engine != "20.10" {
		files := testenv.AlpineFiles("3.9.4", []testenv.ApkPackage{{Name: "musl", Version: "1.1.20-r4"}, {Name: "libssl1.1", Version: "1.1.1b-r1", Origin: "openssl"}, {Name: "busybox", Version: "1.29.3-r10"}})
		l, err := testenv.Layer(files)
		if err != nil {
			return nil, err
		}
		tarPath := filepath.Join(env.Dir, "mini.tar")
		os.WriteFile(tarPath, l, 0o644)
		if err := docker("import", tarPath, "bench/mini:1"); err != nil {
			return nil, err
		}
		base, baseName = "bench/mini:1", "Alpine 3.9.4 minirootfs (docker import)"
	}
	incremental := func(i int) (string, error) {
		tag := fmt.Sprintf("bench/incr:warm%d", i)
		dir := filepath.Join(env.Dir, "incr")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf("FROM %s\nCOPY stamp /stamp-%d\n", base, i)), 0o644)
		os.WriteFile(filepath.Join(dir, "stamp"), []byte(time.Now().String()), 0o644)
		return tag, docker("build", "-q", "-t", tag, dir)
	}

	// Evict the binaries, then one untimed run of each, so that no measured run reads
	// them from disk.
	for _, f := range []string{in.pluginPath, filepath.Join(filepath.Dir(in.pluginPath), "secscan-engine"), in.trivy} {
		evictPageCache(f)
	}
	wc := freshCache()
	if _, err := scan(wc, "0", "bench/alpine:39"); err != nil {
		return nil, err
	}
	trivy(freshCache(), "bench/alpine:39")

	first := warmRow{image: "bench/alpine:39", what: "first scan, engine not running (empty layer cache)", oursName: "warm engine started by the scan", peerName: "one-shot engine (--engine-idle 0)", target: "no slower than one-shot (≤ 1.05×)", ratioWant: 1.05}
	later := warmRow{image: baseName + " + new top layer", what: "second and later cold scan (new image, base layer cached)", oursName: "warm engine", peerName: "trivy image", target: "≤ 0.8 × trivy", ratioWant: 0.8}
	scratch := warmRow{image: "new FROM scratch Alpine minirootfs", what: "second and later cold scan (new image, nothing cached)", oursName: "warm engine", peerName: "trivy image", target: "≤ 0.8 × trivy", ratioWant: 0.8}
	oneLater := warmRow{image: baseName + " + new top layer", what: "the same with one-shot engines (today's figure)", oursName: "one-shot engine", peerName: "trivy image", target: "(reference)"}
	rescanRow := warmRow{image: baseName, what: "warm re-scan (same image)", oursName: "docker secscan", peerName: "trivy image (warm cache)", target: "≤ 0.3 × trivy", ratioWant: 0.3}
	push := warmRow{image: "bench/alpine:39", what: "push to the local registry (warm cache)", oursName: "docker secscan push", peerName: "docker push", target: "≤ 1.5 × docker push", ratioWant: 1.5}
	large := warmRow{image: "bench/big:1", what: "cold scan of the 1 GiB image, engine running", oursName: "warm engine", peerName: "docker save > /dev/null", target: "≤ 1.05 × docker save", ratioWant: 1.05}
	largeOne := warmRow{image: "bench/big:1", what: "the same with a one-shot engine", oursName: "one-shot engine", peerName: "docker save > /dev/null", target: "(reference)"}

	// The warm engine of oc serves every "later" scan; tc is Trivy's cache with the
	// same base layer analysed.
	oc, tc, oneC := freshCache(), freshCache(), freshCache()
	if _, err := scan(oc, "10m", base); err != nil {
		return nil, err
	}
	if _, err := scan(oneC, "0", base); err != nil {
		return nil, err
	}
	if _, err := trivy(tc, base); err != nil {
		return nil, err
	}
	startPID := enginePID(oc)
	r0, a0, f0 := procMem(startPID)
	res.rss = append(res.rss, fmt.Sprintf("after its first scan ("+baseName+"): VmRSS %s (anonymous %s, file-backed %s)", mib(r0), mib(a0), mib(f0)))
	for i := 0; i < *runs; i++ {
		note := othersBusy()
		for _, b := range note {
			if !contains(res.busy, b) {
				res.busy = append(res.busy, b)
			}
		}
		// First scan: warm (engine stopped, empty layer cache) vs one-shot.
		fc1, fc2 := freshCache(), freshCache()
		a, b, err := pair(i, func() (sample, error) { return scan(fc1, "10m", "bench/alpine:39") }, func() (sample, error) { return scan(fc2, "0", "bench/alpine:39") })
		if err != nil {
			return nil, err
		}
		stopEngine(fc1)
		first.ours, first.peer = append(first.ours, a), append(first.peer, b)
		// A new top layer on alpine-39.
		tag, err := incremental(i)
		if err != nil {
			return nil, err
		}
		a, b, err = pair(i, func() (sample, error) { return scan(oc, "10m", tag) }, func() (sample, error) { return trivy(tc, tag) })
		if err != nil {
			return nil, err
		}
		later.ours, later.peer = append(later.ours, a), append(later.peer, b)
		// Today's figure, one-shot: its peer is the trivy run just above (the same
		// image; a second trivy run of it would be warm).
		c, err := scan(oneC, "0", tag)
		if err != nil {
			return nil, err
		}
		oneLater.ours, oneLater.peer = append(oneLater.ours, c), append(oneLater.peer, b)
		// A new FROM scratch minirootfs.
		st, err := minirootfs(i)
		if err != nil {
			return nil, err
		}
		a, b, err = pair(i, func() (sample, error) { return scan(oc, "10m", st) }, func() (sample, error) { return trivy(freshCache(), st) })
		if err != nil {
			return nil, err
		}
		scratch.ours, scratch.peer = append(scratch.ours, a), append(scratch.peer, b)
		// Warm re-scan: the scan cache (no engine), against Trivy's warm run.
		// (the untimed run fills the scan cache, which the scans above emptied)
		if _, err := rescan(oc, base); err != nil {
			return nil, err
		}
		a, b, err = pair(i, func() (sample, error) { return rescan(oc, base) }, func() (sample, error) { return trivy(tc, base) })
		if err != nil {
			return nil, err
		}
		rescanRow.ours, rescanRow.peer = append(rescanRow.ours, a), append(rescanRow.peer, b)
		res.log = append(res.log, fmt.Sprintf("run %d: first %s warm / %s one-shot; new top layer %s warm / %s one-shot / %s trivy; minirootfs %s warm / %s trivy; re-scan %s / %s trivy",
			i+1, dur(first.ours[i].wall), dur(first.peer[i].wall), dur(later.ours[i].wall), dur(oneLater.ours[i].wall), dur(later.peer[i].wall), dur(scratch.ours[i].wall), dur(scratch.peer[i].wall), dur(rescanRow.ours[i].wall), dur(rescanRow.peer[i].wall)))
		logf("warm %s: %s", name, res.log[len(res.log)-1])
	}
	// The floor of anything docker secscan does: the docker CLI starting the plugin.
	var hop []sample
	for i := 0; i < *runs; i++ {
		h, err := timed(denv, cli, "secscan", "version")
		if err != nil {
			return nil, err
		}
		hop = append(hop, h)
	}
	res.hop = median(hop)
	// Push with a warm cache.
	if err := docker("tag", "bench/alpine:39", env.Registry+"/bench/first:1"); err != nil {
		return nil, err
	}
	if err := docker("push", "-q", env.Registry+"/bench/first:1"); err != nil {
		return nil, err
	}
	for i := 0; i < *runs; i++ {
		ta := fmt.Sprintf("%s/bench/wours-%d:1", env.Registry, i)
		tb := fmt.Sprintf("%s/bench/wplain-%d:1", env.Registry, i)
		docker("tag", "bench/alpine:39", ta)
		docker("tag", "bench/alpine:39", tb)
		a, b, err := pair(i, func() (sample, error) {
			return timed(denv, cli, "secscan", "push", "--skip-db-update", "--no-progress", "--best-practices", "off", "--secrets", *secrets, "--mode", "warn",
				"--engine-idle", "10m", "--cache-dir", oc, "-o", "/dev/null", ta)
		}, func() (sample, error) { return timed(denv, cli, "push", "-q", tb) })
		if err != nil {
			return nil, err
		}
		push.ours, push.peer = append(push.ours, a), append(push.peer, b)
	}
	// The large image, cold (fresh layer cache, the engine running) against the bare export.
	for i := 0; i < *runs; i++ {
		lc := freshCache()
		if _, err := scan(lc, "10m", "bench/alpine:39"); err != nil { // starts its engine
			return nil, err
		}
		lo := freshCache()
		a, b, err := pair(i, func() (sample, error) { return scan(lc, "10m", "bench/big:1") }, func() (sample, error) { return timed(denv, cli, "save", "bench/big:1") })
		if err != nil {
			return nil, err
		}
		c, err := scan(lo, "0", "bench/big:1")
		if err != nil {
			return nil, err
		}
		large.ours, large.peer = append(large.ours, a), append(large.peer, b)
		largeOne.ours, largeOne.peer = append(largeOne.ours, c), append(largeOne.peer, b)
		if i == *runs-1 {
			pid := enginePID(lc)
			r1, a1, f1 := procMem(pid)
			res.rss = append(res.rss, fmt.Sprintf("idle after its scan of the 1 GiB image: VmRSS %s (anonymous %s, file-backed %s); its peak during the scan is not sampled", mib(r1), mib(a1), mib(f1)))
		}
		stopEngine(lc)
		res.log = append(res.log, fmt.Sprintf("big run %d: warm %s, one-shot %s, docker save %s", i+1, dur(a.wall), dur(c.wall), dur(b.wall)))
		logf("warm %s: %s", name, res.log[len(res.log)-1])
	}
	r2, a2, f2 := procMem(startPID)
	res.rss = append(res.rss, fmt.Sprintf("the engine of the small scans, idle at the end: VmRSS %s (anonymous %s, file-backed %s)", mib(r2), mib(a2), mib(f2)))
	stopEngine(oc)
	res.rows = []warmRow{first, later, oneLater, scratch, rescanRow, push, large, largeOne}
	res.took = time.Since(start)
	return res, nil
}

func writeWarm(results []*warmRun, pluginPath string) string {
	var b strings.Builder
	b.WriteString(warmHeading + "\n\n")
	fmt.Fprintf(&b, "The warm scan engine (README, *The warm engine*) against the targets of issue 16, measured by `make bench` (or alone: `go run ./e2e/bench -warm only -plugin bin/docker-secscan`, which replaces this section only), %s, medians of %d runs, each figure paired with its peer measured in the same run (alternating which goes first). The machine is shared with other builds and tests: figures are noisy, compare each pair rather than figures of different rows.\n", time.Now().UTC().Format("2006-01-02"), *runs)
	b.WriteString(warmReading)
	for _, r := range results {
		fmt.Fprintf(&b, "\n### %s (%s)\n\n", r.title, r.version)
		b.WriteString("| image | measurement | ours | peer | ours / peer | target |\n|---|---|---:|---:|---:|---|\n")
		for _, row := range r.rows {
			o, p := median(row.ours), median(row.peer)
			ratio := float64(o.wall) / float64(p.wall)
			verdict := ""
			if row.ratioWant > 0 {
				verdict = " ✅"
				if ratio > row.ratioWant {
					verdict = " ❌"
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s (%s) | %s (%s) | %.2f | %s%s |\n", row.image, row.what, dur(o.wall), row.oursName, dur(p.wall), row.peerName, ratio, row.target, verdict)
		}
		fmt.Fprintf(&b, "\nThe docker CLI starting the plugin (`docker secscan version`, no daemon call, no engine): %s, median of %d; a warm re-scan and a gated push pay it on top of what they do, `trivy image` and `docker push` do not.\n", dur(r.hop.wall), *runs)
		b.WriteString("\nMemory of the warm engine (from /proc; file-backed pages are the engine's program, shared and reclaimable):\n\n")
		for _, l := range r.rss {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		if len(r.busy) > 0 {
			fmt.Fprintf(&b, "\nOther heavy processes seen during these runs: %s.\n", strings.Join(r.busy, "; "))
		}
		fmt.Fprintf(&b, "\nEvery run (took %s):\n\n```\n%s\n```\n", r.took.Round(time.Second), strings.Join(r.log, "\n"))
	}
	return b.String()
}

// runWarm measures the warm engine on every engine and replaces its section of -out.
func runWarm(names []string, in *inputs) error {
	if in.big == "" {
		logf("generating a %d MiB multi-layer image", *bigMB)
		var err error
		if in.big, err = bigArchive(in.work, "bench/big:1", *bigMB, *testdata); err != nil {
			return err
		}
	}
	var measured []*warmRun
	for _, n := range names {
		r, err := measureWarm(n, in)
		if err != nil {
			return fmt.Errorf("warm engine on docker %s: %w", n, err)
		}
		measured = append(measured, r)
	}
	return spliceSection(*out, warmHeading, writeWarm(measured, in.pluginPath))
}

// warmReading explains the rows whatever their figures.
const warmReading = `
Reading these figures:

- The warm engine removes the engine's start-up from a scan (the program's page-in, Go's and Trivy's initialisation): compare each warm row with the one-shot row measured in the same runs. What remains of a scan of a small new image is the docker CLI starting the plugin (the line under each table), the daemon's export of the image (on Docker 20.10 a legacy ` + "`docker save`" + ` stages the whole image first; see the export floors above) and the analysis of the new layers; Trivy pays the same export.
- A warm re-scan and a gated push with a warm cache start no engine at all (the scan cache answers): the warm engine does not change them. They pay the docker CLI starting the plugin, the daemon's image inspect and, for the push, the push through the daemon and the registry check of the pushed digest.
- On the 1 GiB image a cold scan is bound by the daemon's export whichever engine runs it: compare the warm and one-shot rows with ` + "`docker save`" + ` run by run (the spread of the export alone is as large as the difference).
- Memory: an idle engine returns what a scan allocated (debug.FreeOSMemory after each request); most of what stays resident is the engine's program mapped from its file.
`
