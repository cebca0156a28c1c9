package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IdleEnv sets how long a warm engine stays up after its last request (as
// --engine-idle; the flag wins). 0 starts an engine process per request.
const IdleEnv = "SECSCAN_ENGINE_IDLE"

// DefaultIdle is the idle time of a warm engine outside CI.
const DefaultIdle = 10 * time.Minute

// ParseIdle reads an idle time: a Go duration ("10m", "90s", "1h") or a number of
// seconds ("600"); "0" means no warm engine. from names the setting in errors.
func ParseIdle(s, from string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		if from == "" { // the flag parser names the flag itself
			return 0, fmt.Errorf("not an idle time: give a duration such as 10m or 90s, or 0 for no warm engine")
		}
		return 0, fmt.Errorf("%s %q is not an idle time: give a duration such as 10m or 90s, or 0 for no warm engine", from, s)
	}
	return d, nil
}

// ResolveIdle is the idle time a command uses: --engine-idle when given (flagSet),
// else $SECSCAN_ENGINE_IDLE, else 0 in CI (CI=true: each job is a fresh machine, and
// nothing would reuse the engine), else DefaultIdle. why says where it came from.
func ResolveIdle(flag string, flagSet bool, getenv func(string) string) (d time.Duration, why string, err error) {
	switch {
	case flagSet:
		d, err = ParseIdle(flag, "--engine-idle")
		return d, "--engine-idle", err
	case getenv(IdleEnv) != "":
		d, err = ParseIdle(getenv(IdleEnv), "$"+IdleEnv)
		return d, "$" + IdleEnv, err
	case InCI(getenv):
		return 0, "CI=" + getenv("CI"), nil
	}
	return DefaultIdle, "the default", nil
}

// InCI reports whether $CI says this is a CI job (CI=true, as GitHub Actions, GitLab
// CI, CircleCI, Travis and others set it).
func InCI(getenv func(string) string) bool {
	v := strings.ToLower(strings.TrimSpace(getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// EngineStatus is what `docker secscan engine status` shows.
type EngineStatus struct {
	PID       int           `json:"pid"`
	Version   string        `json:"version"`
	Socket    string        `json:"socket"`
	Started   time.Time     `json:"started"`
	LastUsed  time.Time     `json:"lastUsed"`
	Idle      time.Duration `json:"idle"`
	Requests  int           `json:"requests"`
	Busy      bool          `json:"busy"`
	Queued    int           `json:"queued"`
	RSS       int64         `json:"rssBytes"`
	Stale     string        `json:"stale,omitempty"` // set by the client: why it would not use this engine
	ExitsAt   time.Time     `json:"exitsAt"`
	Protocol  int           `json:"protocol"`
	EngineID  string        `json:"id"`
	EnvDigest string        `json:"env"`
}
