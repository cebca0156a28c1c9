package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDocker29StampsFollowTheScriptLayout(t *testing.T) {
	d := &Docker29{Root: t.TempDir()}
	if got := len(d.Missing()); got != 4 {
		t.Fatalf("an empty root misses %d components, want 4", got)
	}
	want := map[string]string{
		"bin/.stamp-dockerd":          "v2.0.0-beta.24/29.8.0",
		"bin/.stamp-buildx":           "v0.38.2",
		"bin/.stamp-ctrd2_containerd": "v2.4.2",
		"bin/.stamp-docker":           "v29.9.3",
		"bin/dockerd":                 "",
		"bin/buildx":                  "",
		"bin/ctrd2/containerd":        "",
		"bin/docker":                  "",
	}
	for p, stamp := range want {
		full := filepath.Join(d.Root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if stamp != "" {
			os.WriteFile(full, []byte(stamp+"\n"), 0o644) // echo writes a newline
		} else {
			os.WriteFile(full, []byte("#!/bin/sh\n"), 0o755)
		}
	}
	if m := d.Missing(); len(m) != 0 {
		t.Fatalf("all built, but missing %v", m)
	}
	os.WriteFile(filepath.Join(d.Root, "bin/.stamp-buildx"), []byte("v0.38.1\n"), 0o644)
	os.Chmod(filepath.Join(d.Root, "bin/docker"), 0o644)
	if m := d.Missing(); len(m) != 2 || !strings.HasPrefix(m[0], "buildx@") || !strings.HasPrefix(m[1], "docker-cli@") {
		t.Fatalf("an old stamp and a non-executable binary are not built: %v", m)
	}
}

func TestDocker29Root(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if r, _ := Docker29Root(); r != "/x/cache/docker-secscan/docker29" {
		t.Fatal(r)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if r, _ := Docker29Root(); r != "/home/u/.cache/docker-secscan/docker29" {
		t.Fatal(r)
	}
}

func TestRuncBefore12(t *testing.T) {
	for v, want := range map[string]bool{
		"runc version 1.1.5+ds1\ncommit: 1.1.5\nspec: 1.0.2-dev\n": true,
		"runc version 1.2.0\n":  false,
		"runc version 1.10.1\n": false,
		"runc version 2.0.0\n":  false,
		"runc version 0.9\n":    true,
		"garbage":               true,
	} {
		if got := runcBefore12(v); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestDaemonConfig(t *testing.T) {
	b, err := daemonConfig("/tmp/e", "/tmp/e/ctrd/containerd.sock", "secscan-1", "ssbr1", false)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	f := cfg["features"].(map[string]any)
	if f["containerd-snapshotter"] != true || f["time-namespaces"] != false {
		t.Fatalf("features %v", f)
	}
	for k, v := range map[string]any{"data-root": "/tmp/e/data", "exec-root": "/tmp/e/exec", "pidfile": "/tmp/e/dockerd.pid",
		"containerd": "/tmp/e/ctrd/containerd.sock", "containerd-namespace": "secscan-1", "bridge": "ssbr1",
		"iptables": false, "ip6tables": false, "ip-forward": false, "ip-masq": false, "userland-proxy": false} {
		if cfg[k] != v {
			t.Errorf("%s = %v, want %v", k, cfg[k], v)
		}
	}
	if h := cfg["hosts"].([]any); len(h) != 1 || h[0] != "unix:///tmp/e/docker.sock" {
		t.Errorf("hosts %v", h)
	}
}

func TestContainerdConfigIsVersion4WithOwnSockets(t *testing.T) {
	c := containerdConfig("/tmp/e/ctrd")
	for _, want := range []string{"version = 4\n", "[plugins.'io.containerd.server.v1.grpc']\n    address = '/tmp/e/ctrd/containerd.sock'",
		"address = '/tmp/e/ctrd/containerd.sock.ttrpc'", "address = '/tmp/e/ctrd/debug.sock'", "root = '/tmp/e/ctrd/root'", "state = '/tmp/e/ctrd/state'"} {
		if !strings.Contains(c, want) {
			t.Errorf("no %q in\n%s", want, c)
		}
	}
	if strings.Contains(c, "[grpc]") || strings.Contains(c, "/run/containerd") {
		t.Errorf("a system address or a version 2 section:\n%s", c)
	}
}

func TestBridgeNameAndSubnet(t *testing.T) {
	a, b := bridgeName("/tmp/secscan-d29-1"), bridgeName("/tmp/secscan-d29-2")
	if a == b || len(a) > 15 || bridgeName("/tmp/secscan-d29-1") != a {
		t.Fatalf("bridge names %q %q", a, b)
	}
	x, err := pickSubnet(a, []string{"192.0.2.2/24", "fd00::2/64"})
	if err != nil || x < 1 || x > 253 {
		t.Fatalf("subnet %d %v", x, err)
	}
	y, err := pickSubnet(a, []string{"198.18." + itoa(x) + ".1/24"})
	if err != nil || y == x || y == 254 {
		t.Fatalf("a used subnet was picked again: %d %v", y, err)
	}
	var all []string
	for i := 0; i < 256; i++ {
		all = append(all, "198.18."+itoa(i)+".1/24")
	}
	if _, err := pickSubnet(a, all); err == nil {
		t.Fatal("no error when every subnet is taken")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestWithPathPutsTheFolderFirst(t *testing.T) {
	env := withPath([]string{"A=1", "PATH=/usr/bin:/bin"}, "/opt/d29/bin")
	if env[len(env)-1] != "PATH=/opt/d29/bin:/usr/bin:/bin" || len(env) != 2 {
		t.Fatal(env)
	}
}
