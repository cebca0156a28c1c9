// Package testenv provisions what the end-to-end tests and the demo need, on this
// machine only: Debian's docker.io and docker-registry packages, a private dockerd
// (own data root, exec root, pid file and unix socket) and a private registry listening
// on 127.0.0.1, a Trivy vulnerability DB built from bolt-fixtures YAML, pushed to that
// registry as Trivy's OCI DB artifact, and small images built from files. Beside that
// Engine 20.10, it builds and starts a private Docker Engine 29 on the containerd image
// store (docker29.go).
//
// Nothing here reaches beyond 127.0.0.1 except apt-get and the Go module proxy, and
// Close removes every process, bridge and folder it started.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// EnsureTools installs Debian's docker.io and docker-registry with apt-get when dockerd
// or docker-registry is missing. It needs root and the Debian package mirror.
func EnsureTools(logf func(string, ...any)) error {
	var missing []string
	if _, err := exec.LookPath("dockerd"); err != nil {
		missing = append(missing, "docker.io")
	}
	if _, err := exec.LookPath("docker-registry"); err != nil {
		missing = append(missing, "docker-registry")
	}
	return aptInstall(logf, missing)
}

// ensurePackages installs the Debian packages dpkg does not list as installed.
func ensurePackages(logf func(string, ...any), pkgs ...string) error {
	var missing []string
	for _, p := range pkgs {
		if exec.Command("dpkg", "-s", p).Run() != nil {
			missing = append(missing, p)
		}
	}
	return aptInstall(logf, missing)
}

// aptInstall installs pkgs with apt-get (nothing when empty). A temporary
// /usr/sbin/policy-rc.d keeps the packages' scripts from starting system services
// (containerd on /run/containerd/containerd.sock, a registry on :5000, dockerd).
func aptInstall(logf func(string, ...any), missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing and not root: install them with 'apt-get install %s'", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	logf("installing %s with apt-get", strings.Join(missing, " "))
	const prc = "/usr/sbin/policy-rc.d"
	if _, err := os.Lstat(prc); os.IsNotExist(err) {
		if err := os.WriteFile(prc, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return err
		}
		defer os.Remove(prc)
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"update", "-qq"},
		append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...),
	} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, tail(out, 2000))
		}
	}
	return nil
}

// Env is a running private dockerd and registry.
type Env struct {
	Dir          string // everything lives under here
	Engine       string // the engine's version: "20.10" (Debian's docker.io) or "29.8.0" (StartDocker29)
	DockerHost   string // "unix://<Dir>/docker.sock"
	Registry     string // "127.0.0.1:<port>"
	CLI          string // the engine's docker CLI: "docker" from PATH for 20.10, the built CLI 29 for Docker 29
	DockerConfig string // DOCKER_CONFIG when Docker is given none ("": the caller's)
	procs        []*exec.Cmd
	buildx       string // the buildx binary linked into DOCKER_CONFIG folders ("" for 20.10)
	bridge       string // the bridge this Env created and Close removes
	bridgeCIDR   string
}

// Start starts dockerd and a registry under a new folder in /tmp (short, for the unix
// socket path). Call Close to stop them and remove the folder.
func Start(ctx context.Context, logf func(string, ...any)) (*Env, error) {
	dir, err := os.MkdirTemp("/tmp", "secscan-env-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Engine: "20.10", CLI: "docker", DockerHost: "unix://" + filepath.Join(dir, "docker.sock")}
	if err := e.startDockerd(ctx); err != nil {
		e.Close()
		return nil, err
	}
	reg, err := e.StartRegistry(ctx, "registry", "")
	if err != nil {
		e.Close()
		return nil, err
	}
	e.Registry = reg
	logf("dockerd at %s, registry at %s", e.DockerHost, e.Registry)
	return e, nil
}

func (e *Env) startDockerd(ctx context.Context) error {
	sock := filepath.Join(e.Dir, "docker.sock")
	logf, err := os.Create(filepath.Join(e.Dir, "dockerd.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command("dockerd",
		"--data-root", filepath.Join(e.Dir, "data"),
		"--exec-root", filepath.Join(e.Dir, "exec"),
		"--pidfile", filepath.Join(e.Dir, "dockerd.pid"),
		"-H", "unix://"+sock,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--userland-proxy=false",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM} // stopped even if the test process dies
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %v", err)
	}
	e.procs = append(e.procs, cmd)
	return e.waitPing(ctx, logf.Name())
}

// StartRegistry starts another Distribution registry on a free 127.0.0.1 port, with
// htpasswd (bcrypt) authentication when htpasswd is not empty, and returns "127.0.0.1:PORT".
func (e *Env) StartRegistry(ctx context.Context, name, htpasswd string) (string, error) {
	return e.StartRegistryAt(ctx, name, "127.0.0.1", htpasswd)
}

// StartRegistryAt is StartRegistry listening on another loopback address (e.g.
// 127.0.0.2, which the daemon treats as insecure but Go clients do not).
func (e *Env) StartRegistryAt(ctx context.Context, name, ip, htpasswd string) (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	auth := ""
	if htpasswd != "" {
		hp := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(hp, []byte(htpasswd), 0o600); err != nil {
			return "", err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: secscan-test\n    path: %s\n", hp)
	}
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s:%d\n  secret: secscan-test-only\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n%s",
		filepath.Join(dir, "data"), ip, port, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM} // stopped even if the test process dies
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start docker-registry: %v", err)
	}
	e.procs = append(e.procs, cmd)
	addr := fmt.Sprintf("%s:%d", ip, port)
	err = waitFor(ctx, 30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 || resp.StatusCode == 401
	}, func() string { b, _ := os.ReadFile(logf.Name()); return "registry did not start:\n" + tail(b, 2000) })
	return addr, err
}

// Docker returns a command of the engine's docker CLI bound to the private daemon, with
// DOCKER_CONFIG set to configDir when it is not empty (else to the engine's own, if any).
func (e *Env) Docker(configDir string, args ...string) *exec.Cmd {
	return e.DockerContext(context.Background(), configDir, args...)
}

// DockerContext is Docker with a context that kills the command.
func (e *Env) DockerContext(ctx context.Context, configDir string, args ...string) *exec.Cmd {
	cli := e.CLI
	if cli == "" {
		cli = "docker"
	}
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.DockerHost)
	if configDir == "" {
		configDir = e.DockerConfig
	}
	if configDir != "" {
		cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+configDir)
	}
	return cmd
}

// Close stops every process it started, newest first (SIGTERM, then SIGKILL after
// 20 s), unmounts what is left mounted under the folder, removes the bridge it created
// and removes the folder.
func (e *Env) Close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		stop(e.procs[i])
	}
	// dockerd and containerd unmount their layers on a clean stop; unmount what is left anyway.
	if out, err := exec.Command("sh", "-c", "grep -o ' "+e.Dir+"/[^ ]*' /proc/mounts | sort -r").Output(); err == nil {
		for _, m := range strings.Fields(string(out)) {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if e.bridge != "" {
		_ = ip("link", "del", e.bridge)
		e.bridge = ""
	}
	_ = os.RemoveAll(e.Dir)
}

func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitFor(ctx context.Context, limit time.Duration, ok func() bool, why func() string) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s", why())
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
