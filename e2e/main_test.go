//go:build e2e

// Package e2e runs docker secscan through the real docker CLI against private engines
// and registries on 127.0.0.1, with a vulnerability DB built from Trivy's own fixtures
// and downloaded by the plugin through its normal OCI path. Nothing reaches the internet.
//
// Every test that involves the daemon runs on each engine, as subtests of TestDaemon:
//
//	docker-20.10  Debian's docker.io (classic image store), its CLI from PATH
//	docker-29     Docker Engine 29.8.0 on the containerd image store, with containerd v2,
//	              buildx and the docker CLI 29.9.3, built from the Go module proxy on first
//	              use and kept under ${XDG_CACHE_HOME:-$HOME/.cache}/docker-secscan/docker29
//
// e.g. go test -tags e2e -run 'TestDaemon/docker-29/PushAlpine' ./e2e. Tests that do not
// involve the daemon run once. SECSCAN_E2E_ENGINES (default "20.10,29") limits the engines.
//
// Test data is read in place from ../shared/testdata (override with SECSCAN_TESTDATA).
// SECSCAN_BINARY names a prebuilt plugin binary; without it the tests build one.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/testenv"
)

// The engine the tests run against: TestDaemon points these at each engine in turn;
// the tests that run once see the first engine's.
var (
	env       *testenv.Env
	configDir string // DOCKER_CONFIG with cli-plugins/docker-secscan (and docker-buildx on 29)
	cacheDir  string // shared --cache-dir holding the fixture DB
	dbRepo    string // the fixture DB artifact, 127.0.0.1:PORT/trivy-db
	testdata  string // ../shared/testdata, or SECSCAN_TESTDATA
)

// dockerEngine is one Docker engine the daemon-facing tests run on, with its own registry,
// DOCKER_CONFIG, cache folder and fixture DB.
type dockerEngine struct {
	name                        string // subtest name: "docker-20.10", "docker-29"
	env                         *testenv.Env
	configDir, cacheDir, dbRepo string
	err                         error // why it could not be started
}

var engines []*dockerEngine // the selected ones, started or with their error

// use points the tests' globals at e.
func use(e *dockerEngine) {
	env, configDir, cacheDir, dbRepo = e.env, e.configDir, e.cacheDir, e.dbRepo
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "e2e: "+f+"\n", a...) }
	testdata = os.Getenv("SECSCAN_TESTDATA")
	if testdata == "" {
		testdata, _ = filepath.Abs("../../shared/testdata")
	}
	names, err := testenv.SelectEngines(os.Getenv("SECSCAN_E2E_ENGINES"), "SECSCAN_E2E_ENGINES")
	if err != nil {
		logf("%v", err)
		return 1
	}
	plugin, cleanup, err := pluginBinary()
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer cleanup()

	for _, n := range names {
		e := &dockerEngine{name: "docker-" + n}
		t0 := time.Now()
		e.env, e.err = testenv.StartEngine(n, logf)
		if e.err == nil {
			defer e.env.Close()
			e.err = e.setUp(plugin, logf)
		}
		if e.err != nil {
			logf("%s: %v", e.name, e.err)
		} else {
			logf("%s ready in %s", e.name, time.Since(t0).Round(100*time.Millisecond))
		}
		engines = append(engines, e)
	}
	var first *dockerEngine
	for _, e := range engines {
		if e.err == nil {
			first = e
			break
		}
	}
	if first == nil {
		logf("no engine could be started")
		return 1
	}
	use(first)
	if dbRepo == "" {
		logf("%s not found: tests that need Trivy's fixtures are skipped (set SECSCAN_TESTDATA)", testdata)
	}
	return m.Run()
}

// setUp makes the engine's DOCKER_CONFIG (the plugin, and the engine's own CLI plugins)
// and cache folder, and publishes the fixture DB in its registry.
func (e *dockerEngine) setUp(plugin string, logf func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e.configDir = filepath.Join(e.env.Dir, "docker-config")
	e.cacheDir = filepath.Join(e.env.Dir, "cache")
	if err := installPlugin(e.env, e.configDir, plugin); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(testdata, "trivy-db-fixtures")); err == nil {
		fixtures, _ := filepath.Glob(filepath.Join(testdata, "trivy-db-fixtures", "*.yaml"))
		e.dbRepo = e.env.Registry + "/trivy-db"
		if err := testenv.PublishDB(ctx, filepath.Join(e.env.Dir, "dbbuild"), e.dbRepo+":2", fixtures); err != nil {
			return fmt.Errorf("cannot publish the fixture DB: %v", err)
		}
	}
	return nil
}

// pluginBinary returns the plugin binary (the engine is found next to its real file):
// SECSCAN_BINARY, or both built into a temporary folder.
func pluginBinary() (string, func(), error) {
	if bin := os.Getenv("SECSCAN_BINARY"); bin != "" {
		abs, err := filepath.Abs(bin)
		return abs, func() {}, err
	}
	dir, err := os.MkdirTemp("", "secscan-e2e-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	for _, c := range []string{"docker-secscan", "secscan-engine"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "../cmd/"+c)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("build %s: %v", c, err)
		}
	}
	return filepath.Join(dir, "docker-secscan"), cleanup, nil
}

// installPlugin makes the DOCKER_CONFIG folder dir: an empty config.json, the plugin
// linked into cli-plugins, and the engine's own CLI plugins (docker-buildx on 29).
func installPlugin(e *testenv.Env, dir, plugin string) error {
	if err := e.LinkCLIPlugins(dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}\n"), 0o600); err != nil {
		return err
	}
	return os.Symlink(plugin, filepath.Join(dir, "cli-plugins", "docker-secscan"))
}

func needTestdata(t *testing.T) {
	t.Helper()
	if dbRepo == "" {
		t.Skipf("test data not found at %s (set SECSCAN_TESTDATA)", testdata)
	}
}

// daemonTest is one test TestDaemon runs on every engine; a file of tests adds its own
// to daemonTests in an init function.
type daemonTest struct {
	name string
	fn   func(*testing.T)
}

// daemonTests are the tests that involve the daemon (or the engine's own CLI): TestDaemon
// runs each on every engine. They run in this order, one at a time (none is parallel).
var daemonTests = []daemonTest{
	// action_test.go
	{"ActionStepsRunAsShell", testActionStepsRunAsShell},
	// archive_test.go
	{"RescanAgainstANewDBReadsNoImage", testRescanAgainstANewDBReadsNoImage},
	{"NewTopLayerIsTheOnlyLayerAnalysed", testNewTopLayerIsTheOnlyLayerAnalysed},
	{"JarWithoutJavaDBSaysWhatToDo", testJarWithoutJavaDBSaysWhatToDo},
	{"CachedScanUnderAnotherNameNamesThatImage", testCachedScanUnderAnotherNameNamesThatImage},
	{"ImportedImageSaysBestPracticesDidNotRun", testImportedImageSaysBestPracticesDidNotRun},
	{"ReportToDevStderrKeepsTheStream", testReportToDevStderrKeepsTheStream},
	// build_test.go
	{"BuildGatesAndPushes", testBuildGatesAndPushes},
	{"BuildFailurePassesThrough", testBuildFailurePassesThrough},
	{"Hooks", testHooks},
	{"BuildHonoursItsGateFlags", testBuildHonoursItsGateFlags},
	{"BrokenEngineFailsClosed", testBrokenEngineFailsClosed},
	// measure_test.go
	{"Measure", testMeasure},
	// policy_test.go
	{"PolicyHighCriticalOnlyFixedMatchesGolden", testPolicyHighCriticalOnlyFixedMatchesGolden},
	{"ExceptionsFromEveryFormatMatchGolden", testExceptionsFromEveryFormatMatchGolden},
	{"ExpiredExceptionBlocks", testExpiredExceptionBlocks},
	{"BestPracticeChecksUseDockleIDs", testBestPracticeChecksUseDockleIDs},
	{"OnScanError", testOnScanError},
	// publish_test.go
	{"PublishToApplicationInsightsFromGitHubActions", testPublishToApplicationInsightsFromGitHubActions},
	{"PublishFromAzurePipelines", testPublishFromAzurePipelines},
	{"PublishFailureIsSpooledAndSentOnce", testPublishFailureIsSpooledAndSentOnce},
	{"BuildPushOfSeveralTagsPublishesEachTag", testBuildPushOfSeveralTagsPublishesEachTag},
	// push_test.go
	{"PluginIsListedAndAnswers", testPluginIsListedAndAnswers},
	{"PushAlpine39IsBlockedWithGoldenFindings", testPushAlpine39IsBlockedWithGoldenFindings},
	{"PushWarnModePushesTheScannedImage", testPushWarnModePushesTheScannedImage},
	{"PushCleanImagePasses", testPushCleanImagePasses},
	{"ScanSelfBuiltMinirootfsImage", testScanSelfBuiltMinirootfsImage},
	{"BadInputFailsClosedWithOneLine", testBadInputFailsClosedWithOneLine},
	{"CorruptDBArtifact", testCorruptDBArtifact},
	{"RegistryCredentials", testRegistryCredentials},
	{"PushJSONOnStdoutStaysValid", testPushJSONOnStdoutStaysValid},
	{"PushToInsecureRegistry", testPushToInsecureRegistry},
	{"RescanOfUnchangedImageUsesTheCache", testRescanOfUnchangedImageUsesTheCache},
}

// TestDaemon runs every daemon-facing test on each engine: TestDaemon/docker-20.10/...
// and TestDaemon/docker-29/... An engine left out by SECSCAN_E2E_ENGINES is skipped; one
// that could not be started fails.
func TestDaemon(t *testing.T) {
	for _, n := range testenv.Engines {
		t.Run("docker-"+n, func(t *testing.T) {
			var e *dockerEngine
			for _, x := range engines {
				if x.name == "docker-"+n {
					e = x
				}
			}
			switch {
			case e == nil:
				t.Skipf("not in SECSCAN_E2E_ENGINES=%q", os.Getenv("SECSCAN_E2E_ENGINES"))
			case e.err != nil:
				t.Fatalf("engine not started: %v", e.err)
			}
			prev := &dockerEngine{env: env, configDir: configDir, cacheDir: cacheDir, dbRepo: dbRepo}
			use(e)
			defer use(prev)
			t0 := time.Now()
			for _, dt := range daemonTests {
				t.Run(dt.name, dt.fn)
			}
			t.Logf("%s: daemon tests took %s", e.name, time.Since(t0).Round(time.Second))
		})
	}
}
