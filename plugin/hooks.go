package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/cli/cli-plugins/hooks"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/dockerconfig"
)

// hookedCommands are the docker commands whose completion prints our hint.
const hookedCommands = "build,buildx build,push,image push"

func newHooksCommand(dockerCli command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Turn the docker CLI hints after 'docker build' and 'docker push' on or off",
		Long: `Docker CLI hooks run after a docker command has finished (only on a terminal) and
print a short hint: after 'docker build' and 'docker push', how to gate the image, and the
last docker secscan verdict when there is a recent one. Hooks cannot block a command: the
gate is 'docker secscan push' / 'docker secscan build --push'.

'enable' and 'disable' edit the docker config file (` + "`$DOCKER_CONFIG/config.json`" + `): they set
features.hooks and plugins.secscan.hooks and keep every other setting as it was.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cfgPath := func() string { return dockerCli.ConfigFile().Filename }
	cmd.AddCommand(&cobra.Command{
		Use:   "enable",
		Short: "Print a hint after docker build, buildx build, push and image push",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			edits := []dockerconfig.Edit{{Path: []string{"plugins", "secscan", "hooks"}, Value: hookedCommands}}
			feature, err := dockerconfig.Lookup(cfgPath(), "features", "hooks")
			if err != nil {
				return failed(err)
			}
			if feature != "true" {
				// Hooks are one switch for every plugin: remember that we turned it on,
				// so that disable turns it back off.
				previous := feature
				if previous == "" {
					previous = "(absent)"
				}
				others := pluginsWithHooks(cfgPath())
				edits = append(edits,
					dockerconfig.Edit{Path: []string{"features", "hooks"}, Value: "true"},
					dockerconfig.Edit{Path: []string{"plugins", "secscan", hookFeatureKey}, Value: previous},
					dockerconfig.Edit{Path: []string{"plugins", "secscan", hookOthersKey}, Value: strings.Join(others, ",")})
				if len(others) > 0 {
					fmt.Fprintf(dockerCli.Err(), "note: features.hooks is now on, which also runs the hooks of: %s\n", strings.Join(others, ", "))
				}
			}
			if err := dockerconfig.Apply(cfgPath(), edits...); err != nil {
				return failed(err)
			}
			fmt.Fprintf(dockerCli.Err(), "Hooks enabled in %s for: %s\n", cfgPath(), hookedCommands)
			return nil
		},
	}, &cobra.Command{
		Use:   "disable",
		Short: "Stop printing hints (leaves other plugins' settings alone)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			previous, err := dockerconfig.Lookup(cfgPath(), "plugins", "secscan", hookFeatureKey)
			if err != nil {
				return failed(err)
			}
			before, err := dockerconfig.Lookup(cfgPath(), "plugins", "secscan", hookOthersKey)
			if err != nil {
				return failed(err)
			}
			edits := []dockerconfig.Edit{
				{Path: []string{"plugins", "secscan", "hooks"}},
				{Path: []string{"plugins", "secscan", hookFeatureKey}},
				{Path: []string{"plugins", "secscan", hookOthersKey}},
			}
			// features.hooks goes back to what it was before enable turned it on, unless
			// another plugin has declared hooks since (its owner may rely on them).
			var since []string
			for _, p := range pluginsWithHooks(cfgPath()) {
				if !slices.Contains(strings.Split(before, ","), p) {
					since = append(since, p)
				}
			}
			if previous != "" && len(since) > 0 {
				fmt.Fprintf(dockerCli.Err(), "note: features.hooks stays on: %s declared hooks since 'hooks enable'\n", strings.Join(since, ", "))
			}
			if previous != "" && len(since) == 0 {
				if previous == "(absent)" {
					edits = append(edits, dockerconfig.Edit{Path: []string{"features", "hooks"}})
				} else {
					edits = append(edits, dockerconfig.Edit{Path: []string{"features", "hooks"}, Value: previous})
				}
			}
			if err := dockerconfig.Apply(cfgPath(), edits...); err != nil {
				return failed(err)
			}
			fmt.Fprintf(dockerCli.Err(), "Hooks disabled in %s\n", cfgPath())
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Say whether the hints are on",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			on, err := dockerconfig.Lookup(cfgPath(), "plugins", "secscan", "hooks")
			if err != nil {
				return failed(err)
			}
			feature, _ := dockerconfig.Lookup(cfgPath(), "features", "hooks")
			envHooks := os.Getenv("DOCKER_CLI_HOOKS")
			switch {
			case on == "":
				fmt.Fprintf(dockerCli.Out(), "disabled (%s)\n", cfgPath())
			case envHooks != "" && !isTrue(envHooks):
				fmt.Fprintf(dockerCli.Out(), "configured for %s in %s, but DOCKER_CLI_HOOKS=%s turns hooks off\n", on, cfgPath(), envHooks)
			case feature != "true" && !isTrue(envHooks):
				fmt.Fprintf(dockerCli.Out(), "configured for %s, but features.hooks is not \"true\" in %s: run 'docker secscan hooks enable'\n", on, cfgPath())
			default:
				fmt.Fprintf(dockerCli.Out(), "enabled for: %s (%s)\n", on, cfgPath())
			}
			return nil
		},
	})
	return cmd
}

// hookFeatureKey records, in our plugin settings, what features.hooks was before
// `hooks enable` switched it on ("(absent)" when it was not set), for `hooks disable`.
const hookFeatureKey = "features-hooks-set-by-secscan"

// hookOthersKey records which other plugins had hooks when enable turned
// features.hooks on, so that disable can tell the ones declared since.
const hookOthersKey = "features-hooks-others-at-enable"

func isTrue(s string) bool { b, err := strconv.ParseBool(s); return err == nil && b }

// pluginsWithHooks lists the other plugins that declare hooks in the config.
func pluginsWithHooks(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var cfg struct {
		Plugins map[string]map[string]string `json:"plugins"`
	}
	if json.Unmarshal(data, &cfg) != nil {
		return []string{"(unknown: the plugins section is unusual)"}
	}
	var out []string
	for name, p := range cfg.Plugins {
		if name != "secscan" && p["hooks"] != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// newHookHandlerCommand answers the docker CLI's hook call
// (`docker-secscan secscan docker-cli-plugin-hooks '<hooks.Request JSON>'`) with one
// hooks.Response on stdout. It must be fast and never fail the docker command: any
// problem yields an empty response. Templates use only the forms Docker CLI 28 and 29
// both render ({{flag . "tag"}}, {{arg . 0}}).
func newHookHandlerCommand(dockerCli command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:    metadata.HookSubcommandName,
		Hidden: true,
		Args:   cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var req hooks.Request
			if len(args) > 0 {
				_ = json.Unmarshal([]byte(args[0]), &req)
			}
			resp := hooks.Response{Type: hooks.NextSteps, Template: hookHint(req, defaultCacheDir(), time.Now())}
			return json.NewEncoder(dockerCli.Out()).Encode(resp)
		},
	}
}

// hookHint is the hint for a finished docker command ("" for none).
func hookHint(req hooks.Request, cacheDir string, now time.Time) string {
	if req.CommandError != "" {
		return ""
	}
	var lines []string
	_, tagged := req.Flags["tag"]
	if _, t := req.Flags["t"]; t {
		tagged = true
	}
	_, pushed := req.Flags["push"]
	_, allTags := req.Flags["all-tags"]
	if _, a := req.Flags["a"]; a {
		allTags = true
	}
	switch req.RootCmd {
	case "build", "buildx build":
		// The tag's value is not rendered usefully ({{flag . "tag"}} gives "[a b]" for
		// the repeatable -t), so the hint names the command, not the tag.
		if pushed {
			lines = append(lines, "The build pushed the image without a vulnerability gate; next time: docker secscan build -t NAME:TAG --push .")
		} else if tagged {
			lines = append(lines, "Gate it before pushing: docker secscan push NAME:TAG (the tag you just built)")
		} else {
			lines = append(lines, "Build, scan and gate in one step: docker secscan build -t NAME:TAG --push .")
		}
	case "push", "image push":
		if allTags {
			lines = append(lines, `{{arg . 0}} was pushed without a vulnerability gate; next time gate each tag: docker secscan push {{arg . 0}}:TAG`)
		} else {
			lines = append(lines, `{{arg . 0}} was pushed without a vulnerability gate; next time: docker secscan push {{arg . 0}}`)
		}
	default:
		return ""
	}
	if last, ok := lastResult(cacheDir, now); ok {
		// Of the last gated image, which the hook cannot match to this command's image.
		lines = append(lines, fmt.Sprintf("Last docker secscan verdict, for %s (%s ago, not necessarily this image): %s", last.Reference, now.Sub(last.At).Round(time.Second), last.Summary))
	}
	// Template text must not contain our own template syntax from the summary.
	return strings.Join(lines, "\n")
}

// cachedResult is one entry of the result cache (<cache>/results/<key>.json).
type cachedResult struct {
	Reference string    `json:"reference"`
	ImageID   string    `json:"imageId"`
	DBUpdated time.Time `json:"dbUpdatedAt"`
	Policy    string    `json:"policyHash"`
	Pass      bool      `json:"pass"`
	Summary   string    `json:"summary"`
	At        time.Time `json:"at"`
}

// resultKey keys a verdict by image ID, DB version and policy: the same three give the
// same verdict.
func resultKey(imageID string, dbUpdated time.Time, policyJSON []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", imageID, dbUpdated.UTC().Format(time.RFC3339Nano))
	h.Write(policyJSON)
	return hex.EncodeToString(h.Sum(nil))
}

// saveResult records a verdict in the result cache (best effort).
func saveResult(cacheDir string, out *scanOutcome) {
	pj, _ := json.Marshal(out.policy)
	r := cachedResult{
		Reference: out.image.Input, ImageID: out.image.ID, DBUpdated: out.result.DB.UpdatedAt,
		Policy: fmt.Sprintf("%x", sha256.Sum256(pj)), Pass: out.verdict.Pass, Summary: out.verdict.Summary, At: time.Now().UTC(),
	}
	dir := filepath.Join(cacheDir, "results")
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	b, _ := json.Marshal(r)
	_ = writeFileAtomic(filepath.Join(dir, resultKey(r.ImageID, r.DBUpdated, pj)+".json"), b)
}

// lastResult returns the newest cached verdict of the last 30 minutes.
func lastResult(cacheDir string, now time.Time) (cachedResult, bool) {
	files, _ := filepath.Glob(filepath.Join(cacheDir, "results", "*.json"))
	newest, newestMod := "", time.Time{}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && now.Sub(st.ModTime()) < 30*time.Minute && st.ModTime().After(newestMod) {
			newest, newestMod = f, st.ModTime()
		}
	}
	if newest == "" {
		return cachedResult{}, false
	}
	b, err := os.ReadFile(newest)
	var r cachedResult
	if err != nil || json.Unmarshal(b, &r) != nil {
		return cachedResult{}, false
	}
	defuse := strings.NewReplacer("{{", "{ {", "}}", "} }")
	r.Summary, r.Reference = defuse.Replace(r.Summary), defuse.Replace(r.Reference)
	return r, true
}
