//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/scanner"
)

// serve runs a warm engine (engine.Serve): `secscan-engine serve --socket PATH --id ID
// --idle DURATION`, started by the plugin with its stderr on the cache folder's
// engine.log. Each request is handled as a one-shot engine handles its only one, with
// the client's stderr (passed over the socket) as the process's stderr meanwhile:
// requests are served one at a time, so the swap is safe. Trivy's DB is opened and
// closed by each scan (scanner.Open, Close): a DB another process updated or imported
// is the one the next scan uses.
func serve(args []string) int {
	fs := flag.NewFlagSet(engine.CmdServe, flag.ContinueOnError)
	socket := fs.String("socket", "", "the unix socket to listen on")
	id := fs.String("id", "", "the engine ID the starting plugin computed")
	idle := fs.Duration("idle", engine.DefaultIdle, "exit after this long without a request")
	if err := fs.Parse(args); err != nil || *socket == "" || *id == "" || *idle <= 0 {
		fmt.Fprintln(os.Stderr, "secscan-engine serve is started by the docker-secscan plugin, not by hand")
		return 1
	}
	logw := os.Stderr
	scanner.InitLogging(false, false)
	// The handshake compares the environment the client started the engine with: taken
	// before the engine gives itself a private $TMPDIR.
	env := engine.EnvFingerprint(os.Environ())
	defer privateTemp()()
	defer scanner.Cleanup()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := engine.Serve(ctx, engine.ServeOptions{Socket: *socket, ID: *id, Idle: *idle, Log: logw, Env: env,
		Handler: func(ctx context.Context, call *engine.WarmCall) int {
			os.Stderr = call.Stderr
			scanner.InitLogging(call.Debug, false)
			defer func() {
				os.Stderr = logw
				scanner.InitLogging(false, false)
			}()
			if call.Dir != "" {
				_ = os.Chdir(call.Dir)
			}
			t0 := time.Now()
			code := handle(ctx, call.Command, call.Request, call.Stdout, func() io.Reader {
				if call.Archive == nil {
					return errReader{}
				}
				return call.Archive
			})
			fmt.Fprintf(logw, "%s %s: exit %d in %s\n", time.Now().Format(time.RFC3339), call.Command, code, time.Since(t0).Round(time.Millisecond))
			return code
		}})
	if errors.Is(err, engine.ErrEngineRunning) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(logw, "secscan-engine serve: %v\n", err)
		return 1
	}
	return 0
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no image archive was passed") }
