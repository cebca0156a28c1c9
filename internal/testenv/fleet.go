package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// TrivyVersion is the Trivy CLI the benchmarks compare with and the fleet tests run as
// a server: the version the engine links.
const TrivyVersion = "v0.74.0"

// TrivyCLI returns the Trivy CLI v0.74.0, built from the Go module proxy with go install
// on first use (several minutes on 2 cores) and kept in
// ${XDG_CACHE_HOME:-~/.cache}/docker-secscan-bench/trivy-v0.74.0/trivy.
func TrivyCLI(logf func(string, ...any)) (string, error) {
	return GoInstall(logf, "github.com/aquasecurity/trivy/cmd/trivy", TrivyVersion, "docker-secscan-bench")
}

// Redis is a private redis-server (Debian's package) on 127.0.0.1: its own folder and
// port, no persistence (an empty --save), never the system service.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	// TLS, when set, makes the server speak TLS only and require client certificates
	// signed by its CA (StartRedisTLS).
	TLS *RedisTLS
	dir string
	cmd *exec.Cmd
}

// RedisTLS is a test CA and certificates for 127.0.0.1 (PEM files).
type RedisTLS struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// URL is the backend URL Trivy and docker secscan take.
func (r *Redis) URL() string {
	if r.TLS != nil {
		return "rediss://" + r.Addr
	}
	return "redis://" + r.Addr
}

// StartRedis installs Debian's redis-server when it is missing and starts one under dir.
func StartRedis(ctx context.Context, dir string, logf func(string, ...any)) (*Redis, error) {
	if err := ensureRedis(logf); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// StartRedisTLS is StartRedis speaking TLS only, with a new CA, a server certificate
// for 127.0.0.1 and a client certificate (required) under dir.
func StartRedisTLS(ctx context.Context, dir string, logf func(string, ...any)) (*Redis, error) {
	if err := ensureRedis(logf); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certs, err := makeTLS(dir)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, TLS: certs}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Start starts the server again on the same port (after Stop), empty.
func (r *Redis) Start(ctx context.Context) error {
	_, port, _ := splitHostPort(r.Addr)
	logf, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--protected-mode", "yes"}
	if t := r.TLS; t != nil {
		args = append(args, "--port", "0", "--tls-port", port, "--tls-cert-file", t.ServerCert, "--tls-key-file", t.ServerKey,
			"--tls-ca-cert-file", t.CA, "--tls-auth-clients", "yes")
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %v", err)
	}
	r.cmd = cmd
	return waitFor(ctx, 20*time.Second, func() bool { return dialOK(r.Addr) },
		func() string {
			b, _ := os.ReadFile(logf.Name())
			return "redis-server did not start:\n" + tail(b, 2000)
		})
}

// Stop stops the server (its data is gone: no persistence).
func (r *Redis) Stop() {
	if r.cmd != nil {
		stop(r.cmd)
		r.cmd = nil
	}
}

// TrivyServer is `trivy server` on 127.0.0.1 with a Redis cache backend and a token.
type TrivyServer struct {
	URL   string // http://127.0.0.1:PORT
	Token string
	Log   string // its log file
	cmd   *exec.Cmd
	args  []string
	dir   string
}

// StartTrivyServer starts `trivy server --listen 127.0.0.1:PORT --cache-backend
// REDIS --token TOKEN` with its own cache folder under dir, downloading the DB at
// start from dbRepo (an OCI repository on 127.0.0.1: plain HTTP), and waits until it
// answers /healthz.
func StartTrivyServer(ctx context.Context, trivy, dir, redisURL, token, dbRepo string) (*TrivyServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &TrivyServer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Token: token, Log: filepath.Join(dir, "trivy-server.log"), dir: dir}
	s.args = []string{"server", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--cache-backend", redisURL,
		"--token", token, "--cache-dir", filepath.Join(dir, "cache"), "--db-repository", dbRepo, "--no-progress"}
	s.args = append([]string{trivy}, s.args...)
	return s, s.Start(ctx)
}

// Start starts the server again (after Stop) on the same port.
func (s *TrivyServer) Start(ctx context.Context) error {
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Env = append(os.Environ(), "TRIVY_NO_PROGRESS=true")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start trivy server: %v", err)
	}
	s.cmd = cmd
	return waitFor(ctx, 2*time.Minute, func() bool {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { b, _ := os.ReadFile(s.Log); return "trivy server did not start:\n" + tail(b, 3000) })
}

// Stop stops the server.
func (s *TrivyServer) Stop() {
	if s.cmd != nil {
		stop(s.cmd)
		s.cmd = nil
	}
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

// dialOK reports whether something accepts TCP connections at addr.
func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// makeTLS writes a CA, a server certificate for 127.0.0.1 and a client certificate.
func makeTLS(dir string) (*RedisTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "secscan test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	t := &RedisTLS{CA: filepath.Join(dir, "ca.crt"), ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key")}
	if err := writePEM(t.CA, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	for i, c := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
	}{{t.ServerCert, t.ServerKey, x509.ExtKeyUsageServerAuth}, {t.ClientCert, t.ClientKey, x509.ExtKeyUsageClientAuth}} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{c.usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := writePEM(c.cert, "CERTIFICATE", der); err != nil {
			return nil, err
		}
		if err := writePEM(c.key, "EC PRIVATE KEY", kb); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// ensureRedis installs Debian's redis-server when it is missing (root and the Debian
// package mirror needed).
func ensureRedis(logf func(string, ...any)) error {
	if _, err := exec.LookPath("redis-server"); err == nil {
		return nil
	}
	return aptInstall(logf, []string{"redis-server"})
}
