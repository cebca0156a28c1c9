package testenv

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Engines are the Docker engines the tests and the bench run on, in the order they
// run: Debian's Docker 20.10 (classic image store) and Docker 29 (containerd image
// store, built by EnsureDocker29).
var Engines = []string{"20.10", "29"}

// SelectEngines parses a comma-separated subset of Engines ("29", "docker-20.10,29"),
// all when v is empty, in Engines' order. what names the setting in errors (e.g.
// "SECSCAN_E2E_ENGINES", "-engines").
func SelectEngines(v, what string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return Engines, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimPrefix(strings.TrimSpace(n), "docker-")
		known := false
		for _, k := range Engines {
			known = known || k == n
		}
		if !known {
			return nil, fmt.Errorf("%s=%q: unknown engine %q (known: %s)", what, v, n, strings.Join(Engines, ","))
		}
		want[n] = true
	}
	var out []string
	for _, k := range Engines {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// StartEngine provisions (installing or building what is missing: EnsureTools,
// EnsureDocker29, the latter bounded by 75 minutes) and starts one engine of Engines
// with its registry. Close the Env to stop it.
func StartEngine(name string, logf func(string, ...any)) (*Env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	switch name {
	case "20.10":
		if err := EnsureTools(logf); err != nil {
			return nil, fmt.Errorf("cannot provision: %v", err)
		}
		env, err := Start(ctx, logf)
		if err != nil {
			return nil, fmt.Errorf("cannot start dockerd and registry: %v", err)
		}
		return env, nil
	case "29":
		bctx, bcancel := context.WithTimeout(context.Background(), 75*time.Minute)
		defer bcancel()
		d, err := EnsureDocker29(bctx, logf)
		if err != nil {
			return nil, fmt.Errorf("cannot provision Docker 29: %v", err)
		}
		env, err := StartDocker29(ctx, d, logf)
		if err != nil {
			return nil, fmt.Errorf("cannot start Docker 29: %v", err)
		}
		return env, nil
	}
	return nil, fmt.Errorf("unknown engine %q (known: %s)", name, strings.Join(Engines, ","))
}
