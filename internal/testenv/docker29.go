package testenv

// Docker Engine 29 (the engine users run today, with the containerd image store) for the
// end-to-end tests, beside Debian's Engine 20.10. Debian 12 packages no Docker 29 and
// this machine reaches no Docker Hub and no release downloads, so everything is built
// from the Go module proxy, as ../shared/tools/modern-docker.sh does (this is a port of
// its install, build, start, stop and scanner steps; the repository does not call it).
//
// The binaries and the Go caches live under Docker29Root() with exactly that script's
// layout and stamp files, so either can reuse what the other built:
//
//	bin/dockerd, bin/docker-proxy      moby v2 module (.stamp-dockerd "v2.0.0-beta.24/29.8.0")
//	bin/buildx                         (.stamp-buildx)
//	bin/ctrd2/containerd, ctr, shim    (.stamp-ctrd2_containerd)
//	bin/docker                         the docker CLI (.stamp-docker)
//	bin/docker-init                    -> /usr/bin/tini-static
//	gocache/ gomod/ src/ logs/build-times.txt
//
// A cold build takes about 27 minutes on 2 shared cores (dockerd 15.5, buildx 7,
// containerd 3, CLI 1.5); with the binaries kept, starting an engine takes seconds.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Versions of the Docker 29 tool set (those of modern-docker.sh).
const (
	MobyVersion        = "v2.0.0-beta.24" // module github.com/moby/moby/v2
	EngineVersionLabel = "29.8.0"         // what moby v2.0.0-beta.24 is released as (its releases/versions.yaml)
	BuildxVersion      = "v0.38.2"
	ContainerdVersion  = "v2.4.2"
	CLIVersion         = "v29.9.3"
	// docker/cli v29.9.3 requires swarmkit v2.1.3, which the proxy refuses ("403 This
	// module version is not available"): the pseudo-version moby v2.0.0-beta.24 pins.
	swarmkitReplace = "github.com/moby/swarmkit/v2=github.com/moby/swarmkit/v2@v2.1.3-0.20260828175525-ad0357aedfca"
)

// Docker29 is the built Docker 29 tool set under Root.
type Docker29 struct {
	Root string // ${XDG_CACHE_HOME:-$HOME/.cache}/docker-secscan/docker29
}

// Docker29Root is where the Docker 29 binaries and Go caches are kept between runs:
// ${XDG_CACHE_HOME:-$HOME/.cache}/docker-secscan/docker29.
func Docker29Root() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no XDG_CACHE_HOME and no home folder for the Docker 29 build: %v", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "docker-secscan", "docker29"), nil
}

func (d *Docker29) bin() string { return filepath.Join(d.Root, "bin") }

// Dockerd is the dockerd 29 binary.
func (d *Docker29) Dockerd() string { return filepath.Join(d.bin(), "dockerd") }

// CLI is the docker CLI 29 binary.
func (d *Docker29) CLI() string { return filepath.Join(d.bin(), "docker") }

// Buildx is the buildx binary (linked into a DOCKER_CONFIG as cli-plugins/docker-buildx).
func (d *Docker29) Buildx() string { return filepath.Join(d.bin(), "buildx") }

// Containerd is the containerd v2 binary (its shim and ctr are beside it).
func (d *Docker29) Containerd() string { return filepath.Join(d.bin(), "ctrd2", "containerd") }

// component is one thing the build makes, with its stamp (modern-docker.sh's stamp_ok).
type component struct {
	name  string // log and build-times.txt name
	bin   string // path under bin/ whose stamp is checked
	stamp string // the stamp file's content
	build func(ctx context.Context, b *builder) error
}

func (d *Docker29) components() []component {
	return []component{
		{"dockerd+docker-proxy@" + MobyVersion, "dockerd", MobyVersion + "/" + EngineVersionLabel, buildDockerd},
		{"buildx@" + BuildxVersion, "buildx", BuildxVersion, buildBuildx},
		{"containerd+ctr+shim@" + ContainerdVersion, "ctrd2/containerd", ContainerdVersion, buildContainerd},
		{"docker-cli@" + CLIVersion, "docker", CLIVersion, buildCLI},
	}
}

// stampPath is bin/.stamp-<bin with / as _> (modern-docker.sh: .stamp-${1//\//_}).
func (d *Docker29) stampPath(bin string) string {
	return filepath.Join(d.bin(), ".stamp-"+strings.ReplaceAll(bin, "/", "_"))
}

// built says whether bin is executable and its stamp says want (trailing newlines
// ignored, as the shell's $(cat) does).
func (d *Docker29) built(bin, want string) bool {
	st, err := os.Stat(filepath.Join(d.bin(), bin))
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return false
	}
	b, err := os.ReadFile(d.stampPath(bin))
	return err == nil && strings.TrimRight(string(b), "\n") == want
}

// Missing lists the components that are not built (empty when all are).
func (d *Docker29) Missing() []string {
	var out []string
	for _, c := range d.components() {
		if !d.built(c.bin, c.stamp) {
			out = append(out, c.name)
		}
	}
	return out
}

// EnsureDocker29 installs the Debian packages Docker 29 needs (runc, tini, iproute2,
// docker-registry; only the missing ones) and builds what is not built yet under
// Docker29Root(): dockerd and docker-proxy, buildx, containerd v2 with ctr and its shim,
// and the docker CLI. Builds run one at a time under `nice -n 19` and an exclusive lock
// (two test processes do not build at once); each logs its time through logf and in
// logs/build-times.txt. It needs root, the Debian mirror and the Go module proxy.
func EnsureDocker29(ctx context.Context, logf func(string, ...any)) (*Docker29, error) {
	root, err := Docker29Root()
	if err != nil {
		return nil, err
	}
	d := &Docker29{Root: root}
	if os.Geteuid() != 0 {
		return nil, errors.New("Docker 29 for the tests needs root (its own dockerd, containerd and bridge)")
	}
	if err := ensurePackages(logf, "runc", "tini", "iproute2", "docker-registry", "ca-certificates"); err != nil {
		return nil, err
	}
	if err := d.build(ctx, logf); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Docker29) build(ctx context.Context, logf func(string, ...any)) error {
	for _, dir := range []string{d.bin(), filepath.Join(d.Root, "logs")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if len(d.Missing()) > 0 {
		unlock, err := lockFile(filepath.Join(d.Root, ".build.lock"), logf, "another process is building Docker 29 under "+d.Root+"; waiting")
		if err != nil {
			return err
		}
		defer unlock()
		goBin, err := goTool()
		if err != nil {
			return err
		}
		b := &builder{d: d, goBin: goBin, logf: logf}
		t0 := time.Now()
		built := 0
		for _, c := range d.components() {
			if d.built(c.bin, c.stamp) { // checked again under the lock: another process may have built it
				continue
			}
			if err := b.timed(ctx, c); err != nil {
				return err
			}
			if err := os.WriteFile(d.stampPath(c.bin), []byte(c.stamp+"\n"), 0o644); err != nil {
				return err
			}
			built++
		}
		if built > 0 {
			logf("docker29: built %d components in %s (under %s)", built, time.Since(t0).Round(time.Second), d.Root)
		}
	}
	// docker-init for `docker run --init`: Debian's tini-static (docker.io is not needed).
	init := filepath.Join(d.bin(), "docker-init")
	if _, err := os.Stat(init); err != nil {
		_ = os.Remove(init)
		if err := os.Symlink("/usr/bin/tini-static", init); err != nil {
			return err
		}
	}
	var versions []string
	for _, v := range [][]string{{d.Dockerd(), "--version"}, {d.Buildx(), "version"}, {d.Containerd(), "--version"}, {d.CLI(), "--version"}} {
		out, err := exec.CommandContext(ctx, v[0], v[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v\n%s", v[0], v[1], err, tail(out, 1000))
		}
		versions = append(versions, strings.TrimSpace(string(out)))
	}
	logf("docker29: %s", strings.Join(versions, "; "))
	return nil
}

// goTool is the go command that runs the tests (go test puts its GOROOT/bin first on PATH).
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go", nil
	}
	return "", errors.New("no go command to build Docker 29 with (need Go >= 1.26.8 for buildx " + BuildxVersion + ")")
}

// lockFile takes an exclusive flock on path, waiting (and saying so once) while another
// process holds it. The lock goes with the process if it dies.
func lockFile(path string, logf func(string, ...any), waitMsg string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if logf != nil && waitMsg != "" {
			logf("docker29: %s (lock %s)", waitMsg, path)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %v", path, err)
		}
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// builder runs the go commands of the build with modern-docker.sh's environment.
type builder struct {
	d     *Docker29
	goBin string
	logf  func(string, ...any)
	out   *os.File // the current component's build log
}

// env is modern-docker.sh's goenv: GOBIN, GOCACHE and GOMODCACHE under the root,
// GOEXPERIMENT empty (the tests' jsonv2 is for Trivy, not for these), static binaries.
func (b *builder) env(gobin string) []string {
	drop := map[string]bool{"GOBIN": true, "GOCACHE": true, "GOMODCACHE": true, "GOEXPERIMENT": true, "CGO_ENABLED": true, "GOFLAGS": true, "GOTOOLCHAIN": true, "GOWORK": true, "GOOS": true, "GOARCH": true}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, "GOBIN="+gobin, "GOCACHE="+filepath.Join(b.d.Root, "gocache"), "GOMODCACHE="+filepath.Join(b.d.Root, "gomod"),
		"GOEXPERIMENT=", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "GOWORK=off")
}

// run runs the go command (under nice -n 19 when nice is set) in dir, output to the build log.
func (b *builder) run(ctx context.Context, dir, gobin string, nice bool, args ...string) error {
	name, argv := b.goBin, args
	if nice {
		name, argv = "nice", append([]string{"-n", "19", b.goBin}, args...)
	}
	cmd := exec.CommandContext(ctx, name, argv...)
	cmd.Dir = dir
	cmd.Env = b.env(gobin)
	cmd.Stdout, cmd.Stderr = b.out, b.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(b.out.Name())
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, tail(log, 3000))
	}
	return nil
}

// timed builds c, logging its start, a progress line every minute and its time.
func (b *builder) timed(ctx context.Context, c component) error {
	logPath := filepath.Join(b.d.Root, "logs", "build-"+strings.NewReplacer("@", "-", "+", "-", "/", "-").Replace(c.name)+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer out.Close()
	b.out = out
	b.logf("docker29: building %s (log %s)", c.name, logPath)
	t0 := time.Now()
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				b.logf("docker29: still building %s (%s)", c.name, time.Since(t0).Round(time.Second))
			}
		}
	}()
	err = c.build(ctx, b)
	close(done)
	if err != nil {
		return fmt.Errorf("build %s: %v", c.name, err)
	}
	secs := int(time.Since(t0).Seconds())
	if f, err := os.OpenFile(filepath.Join(b.d.Root, "logs", "build-times.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(f, "%s %s %ds\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), c.name, secs)
		f.Close()
	}
	b.logf("docker29: %s built in %ds", c.name, secs)
	return nil
}

func buildDockerd(ctx context.Context, b *builder) error {
	ld := "-w -X github.com/moby/moby/v2/dockerversion.Version=" + EngineVersionLabel +
		" -X github.com/moby/moby/v2/dockerversion.GitCommit=moby-" + MobyVersion +
		" -X github.com/moby/moby/v2/dockerversion.BuildTime=" + time.Now().UTC().Format("2006-01-02T15:04:05Z")
	return b.run(ctx, b.d.Root, b.d.bin(), true, "install", "-tags", "netgo osusergo static_build nri_no_wasm exclude_graphdriver_btrfs", "-ldflags", ld,
		"github.com/moby/moby/v2/cmd/dockerd@"+MobyVersion, "github.com/moby/moby/v2/cmd/docker-proxy@"+MobyVersion)
}

func buildBuildx(ctx context.Context, b *builder) error {
	ld := "-s -w -X github.com/docker/buildx/version.Version=" + BuildxVersion +
		" -X github.com/docker/buildx/version.Revision=proxy-" + BuildxVersion +
		" -X github.com/docker/buildx/version.Package=github.com/docker/buildx"
	return b.run(ctx, b.d.Root, b.d.bin(), true, "install", "-ldflags", ld, "github.com/docker/buildx/cmd/buildx@"+BuildxVersion)
}

func buildContainerd(ctx context.Context, b *builder) error {
	const pkg = "github.com/containerd/containerd/v2"
	ld := "-s -w -X " + pkg + "/version.Version=" + strings.TrimPrefix(ContainerdVersion, "v") +
		" -X " + pkg + "/version.Revision=proxy-" + ContainerdVersion +
		" -X " + pkg + "/version.Package=github.com/containerd/containerd"
	gobin := filepath.Join(b.d.bin(), "ctrd2")
	if err := b.run(ctx, b.d.Root, gobin, true, "install", "-tags", "urfave_cli_no_docs osusergo netgo static_build no_btrfs", "-ldflags", ld,
		pkg+"/cmd/containerd@"+ContainerdVersion, pkg+"/cmd/ctr@"+ContainerdVersion); err != nil {
		return err
	}
	return b.run(ctx, b.d.Root, gobin, true, "install", "-tags", "urfave_cli_no_docs osusergo netgo static_build no_btrfs no_grpc", "-ldflags", ld,
		pkg+"/cmd/containerd-shim-runc-v2@"+ContainerdVersion)
}

// buildCLI: docker/cli has no go.mod (vendor.mod), and module zips drop vendor/: its
// vendor.mod becomes go.mod and the dependencies come from the proxy.
func buildCLI(ctx context.Context, b *builder) error {
	cmd := exec.CommandContext(ctx, b.goBin, "mod", "download", "-json", "github.com/docker/cli@"+CLIVersion+"+incompatible")
	cmd.Dir = b.d.Root
	cmd.Env = b.env(b.d.bin())
	cmd.Stderr = b.out
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go mod download docker/cli: %v\n%s", err, tail(out, 2000))
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("go mod download docker/cli: no folder (%v %s)", err, mod.Error)
	}
	srcRoot := filepath.Join(b.d.Root, "src")
	src := filepath.Join(srcRoot, "cli-"+CLIVersion)
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	if err := os.MkdirAll(srcRoot, 0o755); err != nil {
		return err
	}
	for _, c := range [][]string{{"cp", "-r", mod.Dir, src}, {"chmod", "-R", "u+w", src}} {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v %s", strings.Join(c, " "), err, out)
		}
	}
	for from, to := range map[string]string{"vendor.mod": "go.mod", "vendor.sum": "go.sum"} {
		data, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(src, to), data, 0o644); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(src, "vendor")); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return err
	}
	if regexp.MustCompile(`(?m)github\.com/moby/swarmkit/v2 v2\.1\.3$`).Match(gomod) {
		if err := b.run(ctx, src, b.d.bin(), false, "mod", "edit", "-replace", swarmkitReplace); err != nil {
			return err
		}
	}
	ld := "-s -w -X github.com/docker/cli/cli/version.Version=" + strings.TrimPrefix(CLIVersion, "v") +
		" -X github.com/docker/cli/cli/version.GitCommit=proxy-" + CLIVersion
	return b.run(ctx, src, b.d.bin(), true, "build", "-mod=mod", "-o", b.d.CLI(), "-tags", "osusergo netgo grpcnotrace", "-ldflags", ld, "./cmd/docker")
}

// ---------------------------------------------------------------- start

// StartDocker29 starts a private Docker 29 under a new folder in /tmp, beside any other
// engine: its own containerd v2 (sockets, root and state in the folder), dockerd 29 on
// the containerd image store (own data root, exec root, pid file, unix socket,
// containerd namespace and plugins namespace), its own bridge (a name and a
// 198.18.x.1/24 network unique to this engine; no NAT, no iptables, forwarding off) so
// that BuildKit RUN steps have a network, and a registry on 127.0.0.1. The docker CLI
// is the built CLI 29 with DOCKER_CONFIG Dir/dockercfg holding cli-plugins/docker-buildx.
// Close stops it all, removes the bridge, unmounts leftovers and removes the folder.
func StartDocker29(ctx context.Context, d *Docker29, logf func(string, ...any)) (*Env, error) {
	t0 := time.Now()
	for _, p := range []string{d.Dockerd(), d.Containerd(), d.CLI(), d.Buildx()} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("Docker 29 is not built (%v): call EnsureDocker29 first", err)
		}
	}
	dir, err := os.MkdirTemp("/tmp", "secscan-d29-")
	if err != nil {
		return nil, err
	}
	e := &Env{
		Dir:          dir,
		Engine:       EngineVersionLabel,
		DockerHost:   "unix://" + filepath.Join(dir, "docker.sock"),
		CLI:          d.CLI(),
		DockerConfig: filepath.Join(dir, "dockercfg"),
		buildx:       d.Buildx(),
	}
	fail := func(err error) (*Env, error) { e.Close(); return nil, err }
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fail(err)
	}
	if err := e.LinkCLIPlugins(e.DockerConfig); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(e.DockerConfig, "config.json"), []byte("{}\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := e.addBridge(); err != nil {
		return fail(err)
	}
	ctrdSock, err := e.startContainerd(ctx, d)
	if err != nil {
		return fail(err)
	}
	if err := e.startDockerd29(ctx, d, ctrdSock); err != nil {
		return fail(err)
	}
	reg, err := e.StartRegistry(ctx, "registry", "")
	if err != nil {
		return fail(err)
	}
	e.Registry = reg
	// Smoke: the CLI reaches the daemon, which is the one we built, and buildx answers.
	out, err := e.Docker("", "version", "--format", "{{.Client.Version}} {{.Server.Version}} {{.Server.APIVersion}}").CombinedOutput()
	if err != nil || !strings.Contains(string(out), strings.TrimPrefix(CLIVersion, "v")+" "+EngineVersionLabel+" ") {
		return fail(fmt.Errorf("docker version against Docker 29: %v: %s", err, tail(out, 1000)))
	}
	bx, err := e.Docker("", "buildx", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(bx), BuildxVersion) {
		return fail(fmt.Errorf("docker buildx version: %v: %s", err, tail(bx, 1000)))
	}
	logf("docker 29 (client/server/API %s) at %s on bridge %s %s, registry at %s: started in %s",
		strings.TrimSpace(string(out)), e.DockerHost, e.bridge, e.bridgeCIDR, e.Registry, time.Since(t0).Round(10*time.Millisecond))
	return e, nil
}

// LinkCLIPlugins makes dir/cli-plugins and links the engine's own CLI plugins into it
// (docker-buildx for Docker 29; none for 20.10, whose CLI builds without buildx).
func (e *Env) LinkCLIPlugins(dir string) error {
	plugins := filepath.Join(dir, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return err
	}
	if e.buildx == "" {
		return nil
	}
	link := filepath.Join(plugins, "docker-buildx")
	_ = os.Remove(link)
	return os.Symlink(e.buildx, link)
}

// bridgeName is the bridge of the engine under dir: "ssbr" and 8 hex digits of a hash
// of the folder (interface names have at most 15 characters).
func bridgeName(dir string) string {
	h := fnv.New32a()
	h.Write([]byte(dir))
	return fmt.Sprintf("ssbr%08x", h.Sum32())
}

// pickSubnet returns the third octet of a 198.18.x.0/24 no address on the machine is
// in (addrs: every address, as "a.b.c.d/n"), starting from a value derived from
// name. 198.18.0.0/15 is for benchmarking (RFC 2544); modern-docker.sh's default bridge
// has 198.18.254.1/24, which is never picked.
func pickSubnet(name string, addrs []string) (int, error) {
	used := map[int]bool{254: true, 255: true, 0: true}
	for _, a := range addrs {
		ip, _, err := net.ParseCIDR(a)
		if err != nil {
			ip = net.ParseIP(a)
		}
		if ip4 := ip.To4(); ip4 != nil && ip4[0] == 198 && ip4[1] == 18 {
			used[int(ip4[2])] = true
		}
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	start := int(h.Sum32() % 253)
	for i := 0; i < 253; i++ {
		x := (start+i)%253 + 1
		if !used[x] {
			return x, nil
		}
	}
	return 0, errors.New("no free 198.18.x.0/24 for a bridge")
}

// addBridge creates the engine's bridge with a free 198.18.x.1/24, IPv6 off and
// forwarding off on it (packets from containers never leave the host). A machine-wide
// lock keeps two test processes from picking the same network.
func (e *Env) addBridge() error {
	unlock, err := lockFile(filepath.Join(os.TempDir(), ".docker-secscan-bridges.lock"), nil, "")
	if err != nil {
		return err
	}
	defer unlock()
	removeStale(filepath.Dir(e.Dir))
	name := bridgeName(e.Dir)
	if _, err := net.InterfaceByName(name); err == nil {
		return fmt.Errorf("a network interface %s exists already", name)
	}
	var addrs []string
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		as, _ := i.Addrs()
		for _, a := range as {
			addrs = append(addrs, a.String())
		}
	}
	x, err := pickSubnet(name, addrs)
	if err != nil {
		return err
	}
	cidr := fmt.Sprintf("198.18.%d.1/24", x)
	if err := ip("link", "add", name, "type", "bridge"); err != nil {
		return err
	}
	e.bridge = name
	if err := os.WriteFile(filepath.Join(e.Dir, "bridge.created"), []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	if err := ip("addr", "add", cidr, "dev", name); err != nil {
		return err
	}
	e.bridgeCIDR = cidr
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1\n"), 0o644)
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+name+"/forwarding", []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("forwarding off on %s: %v", name, err)
	}
	return ip("link", "set", name, "up")
}

// removeStale removes what a Docker 29 engine of a test process that died (killed
// before Close; its daemons got SIGTERM with it) left under tmp: its bridge, its mounts
// and its folder. An engine is stale when the process in its owner.pid is gone.
func removeStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "secscan-d29-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		stale := &Env{Dir: dir}
		if b, err := os.ReadFile(filepath.Join(dir, "bridge.created")); err == nil && strings.TrimSpace(string(b)) == bridgeName(dir) {
			stale.bridge = bridgeName(dir)
		}
		stale.Close()
	}
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// containerdConfig is containerd 2.x's config version 4 for a private instance under
// dir. (A version-2-style [grpc] address would be ignored and containerd would listen on
// /run/containerd/containerd.sock: the addresses live in the server plugins.)
func containerdConfig(dir string) string {
	sock := filepath.Join(dir, "containerd.sock")
	return fmt.Sprintf(`version = 4
root = '%[1]s/root'
state = '%[1]s/state'
imports = []
disabled_plugins = ['io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime', 'io.containerd.podsandbox.controller.v1.podsandbox', 'io.containerd.nri.v1.nri']
[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = '%[2]s'
  [plugins.'io.containerd.server.v1.ttrpc']
    address = '%[2]s.ttrpc'
  [plugins.'io.containerd.server.v1.debug']
    address = '%[1]s/debug.sock'
  [plugins.'io.containerd.internal.v1.opt']
    path = '%[1]s/opt'
  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = '%[1]s/image-verifier/bin'
`, dir, sock)
}

func (e *Env) startContainerd(ctx context.Context, d *Docker29) (string, error) {
	dir := filepath.Join(e.Dir, "ctrd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cfg := filepath.Join(e.Dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(containerdConfig(dir)), 0o644); err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "containerd.sock")
	cmd := exec.Command(d.Containerd(), "--config", cfg)
	// its shim (containerd-shim-runc-v2) is found on PATH
	cmd.Env = withPath(os.Environ(), filepath.Dir(d.Containerd()))
	logPath := filepath.Join(e.Dir, "containerd.log")
	if err := e.startProc(cmd, logPath, "containerd"); err != nil {
		return "", err
	}
	return sock, waitFor(ctx, 20*time.Second, func() bool {
		st, err := os.Stat(sock)
		return err == nil && st.Mode()&os.ModeSocket != 0
	}, func() string {
		b, _ := os.ReadFile(logPath)
		return "containerd did not open " + sock + ":\n" + tail(b, 3000)
	})
}

// runcBefore12 says whether `runc --version` reports a runc older than 1.2, which does
// not know the "time" namespace dockerd 29 adds ("runc create failed: namespace
// {"time" ""} does not exist"; Debian 12 has 1.1.5).
func runcBefore12(version string) bool {
	m := regexp.MustCompile(`(?m)^runc version (\d+)\.(\d+)`).FindStringSubmatch(version)
	if m == nil {
		return true // unknown: the safe setting
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major < 1 || (major == 1 && minor < 2)
}

// daemonConfig is dockerd 29's daemon.json for the engine under dir.
func daemonConfig(dir, ctrdSock, namespace, bridge string, timeNamespaces bool) ([]byte, error) {
	cfg := map[string]any{
		"features":             map[string]bool{"containerd-snapshotter": true, "time-namespaces": timeNamespaces},
		"data-root":            filepath.Join(dir, "data"),
		"exec-root":            filepath.Join(dir, "exec"),
		"pidfile":              filepath.Join(dir, "dockerd.pid"),
		"hosts":                []string{"unix://" + filepath.Join(dir, "docker.sock")},
		"containerd":           ctrdSock,
		"containerd-namespace": namespace,
		"bridge":               bridge,
		"iptables":             false,
		"ip6tables":            false,
		"ip-forward":           false,
		"ip-masq":              false,
		"userland-proxy":       false,
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (e *Env) startDockerd29(ctx context.Context, d *Docker29, ctrdSock string) error {
	rv, err := exec.Command("runc", "--version").Output()
	if err != nil {
		return fmt.Errorf("runc --version: %v (install Debian's runc)", err)
	}
	ns := "secscan-" + strings.TrimPrefix(bridgeName(e.Dir), "ssbr")
	cfg, err := daemonConfig(e.Dir, ctrdSock, ns, e.bridge, !runcBefore12(string(rv)))
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(e.Dir, "daemon.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return err
	}
	// containerd-plugins-namespace only works as a flag: in daemon.json the name the
	// validator accepts is not the struct's json key.
	cmd := exec.Command(d.Dockerd(), "--config-file", cfgPath, "--containerd-plugins-namespace", "plugins."+ns)
	// bin/ first on its PATH: docker-init and docker-proxy; the runtime is Debian's runc.
	cmd.Env = withPath(os.Environ(), filepath.Dir(d.Dockerd()))
	logPath := filepath.Join(e.Dir, "dockerd.log")
	if err := e.startProc(cmd, logPath, "dockerd"); err != nil {
		return err
	}
	return e.waitPing(ctx, logPath)
}

// withPath returns env with dir first on PATH.
func withPath(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PATH="+dir+":"+path)
}

// startProc starts cmd in its own process group, stopped if the test process dies,
// output to logPath; Close stops it.
func (e *Env) startProc(cmd *exec.Cmd, logPath, name string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %v", name, err)
	}
	logf.Close() // the child has its own descriptor
	e.procs = append(e.procs, cmd)
	return nil
}

// waitPing waits up to a minute for the daemon to answer /_ping on its socket.
func (e *Env) waitPing(ctx context.Context, logPath string) error {
	sock := strings.TrimPrefix(e.DockerHost, "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 2 * time.Second}
	return waitFor(ctx, 60*time.Second, func() bool {
		resp, err := hc.Get("http://docker/_ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, func() string { b, _ := os.ReadFile(logPath); return "dockerd did not start:\n" + tail(b, 3000) })
}

// ---------------------------------------------------------------- SBOM generator

// SBOMScannerImage is the stand-in SBOM generator BuildSBOMScanner builds.
const SBOMScannerImage = "modern-sbom-scanner:1"

// sbomScanScript implements BuildKit's SBOM generator protocol
// (docs/attestations/sbom-protocol.md): it lists the apk packages of the scanned root
// as SPDX 2.3 in an in-toto statement.
const sbomScanScript = `#!/bin/sh
set -eu
src="$BUILDKIT_SCAN_SOURCE"; out="$BUILDKIT_SCAN_DESTINATION/$(basename "$src").spdx.json"; pk=""
if [ -f "$src/lib/apk/db/installed" ]; then
  pk=$(awk -F: '/^P:/{n=$2} /^V:/{v=$2; printf "%s{\"SPDXID\":\"SPDXRef-Package-%s\",\"name\":\"%s\",\"versionInfo\":\"%s\",\"downloadLocation\":\"NOASSERTION\"}", sep, n, n, v; sep=","}' "$src/lib/apk/db/installed")
fi
printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","predicate":{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"%s","documentNamespace":"https://example.invalid/modern-sbom-scanner/%s","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: modern-sbom-scanner"]},"packages":[%s]}}\n' "$(basename "$src")" "$(basename "$src")" "$pk" > "$out"
`

// BuildSBOMScanner builds a tiny stand-in SBOM generator image (no Docker Hub here) from
// an Alpine minirootfs tarball, tagged SBOMScannerImage and any extra tags (e.g.
// "docker/buildkit-syft-scanner:stable-1", BuildKit's default, to make `--sbom=true`
// work offline). Use it as `--attest type=sbom,generator=modern-sbom-scanner:1`; the
// build needs the engine's bridge (Docker 29). It returns SBOMScannerImage.
func (e *Env) BuildSBOMScanner(ctx context.Context, rootfsTgz string, extraTags ...string) (string, error) {
	dir, err := os.MkdirTemp(e.Dir, "scanner-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	rootfs, err := os.ReadFile(rootfsTgz)
	if err != nil {
		return "", err
	}
	files := map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"rootfs.tar.gz": {rootfs, 0o644},
		"scan.sh":       {[]byte(sbomScanScript), 0o755},
		"Dockerfile":    {[]byte("FROM scratch\nADD rootfs.tar.gz /\nCOPY scan.sh /scan.sh\nENTRYPOINT [\"/scan.sh\"]\n"), 0o644},
	}
	for name, f := range files {
		if err := os.WriteFile(filepath.Join(dir, name), f.data, f.mode); err != nil {
			return "", err
		}
	}
	args := []string{"build", "-q", "-t", SBOMScannerImage}
	for _, t := range extraTags {
		args = append(args, "-t", t)
	}
	if out, err := e.DockerContext(ctx, "", append(args, dir)...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", SBOMScannerImage, err, tail(out, 2000))
	}
	return SBOMScannerImage, nil
}
