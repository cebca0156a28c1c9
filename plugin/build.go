package plugin

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/engine"
)

const buildHelp = `Run 'docker build' with every argument passed through unchanged (BuildKit through
buildx when it is installed, the classic builder otherwise, as 'docker build' chooses), then
scan the image it built and apply the policy. With --push, every -t NAME:TAG goes through the
same gate and push as 'docker secscan push'.

docker secscan's own options use long names only and are taken out of the arguments:
  --push                         gate and push every -t tag (not passed to the build)
  --policy, --vex, --severity-threshold, --ignore-unfixed, --mode, --best-practices, --secrets,
  --report FORMAT=PATH, --db-repository, --java-db-repository, --cache-dir,
  --skip-db-update, --no-progress, --appinsights-connection-string, --publish-token,
  --publish-required, --publish-timeout, --ci FIELD=VALUE   (as for 'docker secscan push')
The report table goes to stdout after the build's output; use --report for files.

When the build fails, its output and exit code are passed through unchanged.

Exit codes: 0 built and passed (and pushed with --push), 1 the tool failed,
2 blocked by policy (nothing pushed), the build's own code when the build failed.`

func newBuildCommand(dockerCli command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                "build [OPTIONS] PATH | URL | -",
		Short:              "Build an image with 'docker build', then scan and gate it (and push with --push)",
		Long:               buildHelp,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "--help" || a == "-h" {
					return cmd.Help()
				}
			}
			return runBuild(cmd, dockerCli, args)
		},
	}
	return cmd
}

// buildFlags are docker secscan's options of `build`, taken out of the arguments.
func buildFlags(opts *gateOptions, push *bool) *pflag.FlagSet {
	fs := pflag.NewFlagSet("docker secscan build", pflag.ContinueOnError)
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	opts.addFlags(all)
	opts.attach.addFlags(all)
	all.VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "format", "output": // -f and -o are docker build's
			return
		}
		f.Shorthand = ""
		fs.AddFlag(f)
	})
	fs.BoolVar(push, "push", false, "Gate and push every -t tag")
	fs.BoolVar(&debugEngine, "debug", debugEngine, "Print the scanner's debug log on stderr")
	return fs
}

// splitBuildArgs separates docker secscan's options (long names in fs) from the
// arguments for docker build, which keep their order.
func splitBuildArgs(fs *pflag.FlagSet, args []string) (ours, theirs []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			theirs = append(theirs, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "--") {
			theirs = append(theirs, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := fs.Lookup(name)
		if f == nil {
			theirs = append(theirs, a)
			continue
		}
		ours = append(ours, a)
		if !hasValue && f.Value.Type() != "bool" && i+1 < len(args) {
			i++
			ours = append(ours, args[i])
			if strings.HasPrefix(args[i], "-") {
				// "--severity-threshold -t x": a value that is really the next flag.
				ours[len(ours)-1] = "\x00missing value for --" + name
			}
		}
	}
	return ours, theirs
}

// buildValueShorthands are docker build's one-letter flags that take a value
// (-t tag, -f file, -o output, -m memory, -c cpu-shares); the others are booleans (-q).
const buildValueShorthands = "tfomc"

// buildTags returns the values of -t/--tag (also inside combined short flags such as
// -qt NAME), and of --iidfile and --metadata-file when the user gave them, following
// pflag's rules as docker build does.
func buildTags(args []string) (tags []string, iidfile, metadataFile string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--":
			return tags, iidfile, metadataFile
		case strings.HasPrefix(a, "--"):
			name, value, has := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			switch name {
			case "tag", "iidfile", "metadata-file":
				if !has {
					value = next()
				}
				switch name {
				case "tag":
					tags = append(tags, value)
				case "iidfile":
					iidfile = value
				default:
					metadataFile = value
				}
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for k := 1; k < len(a); k++ {
				c := a[k]
				if !strings.ContainsRune(buildValueShorthands, rune(c)) {
					continue // a boolean shorthand
				}
				value := strings.TrimPrefix(a[k+1:], "=")
				if k+1 == len(a) {
					value = next()
				}
				if c == 't' {
					tags = append(tags, value)
				}
				break
			}
		}
	}
	return tags, iidfile, metadataFile
}

// buildQuiet reports whether the docker build arguments ask for quiet output (-q,
// --quiet, or q in a cluster of short flags such as -qt).
func buildQuiet(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--quiet" || a == "--quiet=true":
			return true
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--"):
			for _, c := range a[1:] {
				if c == 'q' {
					return true
				}
				if strings.ContainsRune(buildValueShorthands, c) {
					break // the rest is a value
				}
			}
		}
	}
	return false
}

// pushingOutput returns the build argument that would make BuildKit push the image
// itself (an --output that pushes, see outputPushes; buildx's --push is ours), or "".
func pushingOutput(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		var vals []string
		switch {
		case a == "--":
			// Not an end of options to rely on: it may be another flag's value
			// (--label --), after which pflag reads on. Everything is checked.
			continue
		case a == "--output" || a == "-o":
			if i+1 < len(args) {
				vals = append(vals, args[i+1])
			}
		case strings.HasPrefix(a, "--output="):
			vals = append(vals, strings.TrimPrefix(a, "--output="))
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--"):
			// A cluster of short flags (pflag's rules): "-qo VALUE", "-qoVALUE",
			// "-o=VALUE". Flags that take a value end the cluster.
			cluster := a[1:]
			for j := 0; j < len(cluster); j++ {
				if !strings.ContainsRune(buildValueShorthands, rune(cluster[j])) {
					continue
				}
				v := strings.TrimPrefix(cluster[j+1:], "=")
				if v == "" && i+1 < len(args) && cluster[j+1:] == "" {
					v = args[i+1]
				}
				if cluster[j] == 'o' {
					vals = append(vals, v)
				}
				break
			}
		}
		for _, v := range vals {
			if outputPushes(v) {
				return a + " " + v
			}
		}
	}
	return ""
}

// outputPushes reports whether a --output value makes the builder push: type=registry,
// or push= set to any Go boolean that is true, as BuildKit reads it; keys are matched
// regardless of case, as buildx does, and the value is CSV, as buildx parses it. A
// value that cannot be parsed and mentions pushing counts as pushing (fail closed).
func outputPushes(v string) bool {
	mentionsPush := func() bool {
		l := strings.ToLower(v)
		return strings.Contains(l, "push") || strings.Contains(l, "registry")
	}
	if strings.ContainsAny(v, "\r\n") {
		// buildx keeps inner line breaks in values; Go's CSV reader would stop at one.
		return mentionsPush()
	}
	r := csv.NewReader(strings.NewReader(v))
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	fields, err := r.Read()
	if err != nil {
		return mentionsPush()
	}
	for _, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k, val = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(val)
		switch k {
		case "type":
			if strings.EqualFold(val, "registry") {
				return true
			}
		case "push":
			if b, err := strconv.ParseBool(val); err != nil || b {
				return true
			}
		}
	}
	return false
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

func runBuild(cmd *cobra.Command, dockerCli command.Cli, args []string) error {
	ctx := cmd.Context()
	opts := &gateOptions{format: "table"}
	var push bool
	fs := buildFlags(opts, &push)
	ours, theirs := splitBuildArgs(fs, args)
	for _, a := range ours {
		if strings.HasPrefix(a, "\x00") {
			return failed(fmt.Errorf("%s: run 'docker secscan build --help'", strings.TrimPrefix(a, "\x00")))
		}
	}
	if err := fs.Parse(ours); err != nil {
		return failed(fmt.Errorf("%v: run 'docker secscan build --help'", err))
	}
	tags, iidfile, metadataFile := buildTags(theirs)
	// As `docker build -q`: stdout is the image ID alone.
	opts.reportToStderr = buildQuiet(theirs)
	var refs []reference.NamedTagged
	for _, t := range tags {
		named, err := daemon.ParseReference(t)
		if err != nil {
			return failed(err)
		}
		nt, ok := named.(reference.NamedTagged)
		if !ok {
			return failed(fmt.Errorf("-t %q: tag with NAME:TAG", t))
		}
		refs = append(refs, nt)
	}
	if push && len(refs) == 0 {
		return failed(errors.New("--push needs at least one -t NAME:TAG"))
	}
	if bypass := pushingOutput(theirs); bypass != "" {
		return failed(fmt.Errorf("%q would push from the builder without the gate: use docker secscan's --push (with -t NAME:TAG) instead", bypass))
	}
	// Flags are validated before the build runs: a typo costs no build.
	pol, source, err := opts.resolvePolicyFlags(fs, time.Now())
	if err != nil {
		return failed(err)
	}
	if err := opts.attach.prepare(pol, fs.Changed("attach")); err != nil {
		return failed(err)
	}
	if opts.attach.on && !push && (opts.attach.attach || opts.attach.required || opts.attach.signKey != "") {
		return failed(errors.New("--attach, --attach-required and --sign-key attach records to what is pushed: add --push"))
	}

	// A missing engine is found before the build, not after.
	if _, err := engine.Locate(); err != nil {
		return failed(err)
	}
	tmp, err := os.MkdirTemp("", "docker-secscan-build-")
	if err != nil {
		return failed(err)
	}
	defer os.RemoveAll(tmp)
	buildArgs := []string{"build"}
	if iidfile == "" {
		iidfile = filepath.Join(tmp, "iid")
		buildArgs = append(buildArgs, "--iidfile", iidfile)
	}
	if metadataFile == "" && buildxInstalled() {
		// BuildKit's exporter response (containerimage.config.digest, ...).
		metadataFile = filepath.Join(tmp, "metadata.json")
		buildArgs = append(buildArgs, "--metadata-file", metadataFile)
	}
	buildArgs = append(buildArgs, theirs...)

	b := exec.CommandContext(ctx, dockerCLIPath(), buildArgs...)
	b.Stdin, b.Stdout, b.Stderr = os.Stdin, os.Stdout, os.Stderr
	// No "What's next" hint from our own hooks in the middle of our output.
	b.Env = append(os.Environ(), "DOCKER_CLI_HOOKS=false")
	if err := b.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() == nil {
			// The build failed: its output is on screen; keep its exit code.
			os.RemoveAll(tmp)
			os.Exit(ee.ExitCode())
		}
		return failedCtx(ctx, fmt.Errorf("run docker build: %v", err))
	}

	ids := builtImageIDs(iidfile, metadataFile)
	if len(ids) == 0 {
		return failed(errors.New("the build reported no image ID: with a BuildKit builder that does not load images into the daemon (e.g. docker-container), add --load"))
	}
	// The first of the exporter's digests that the local store knows as an image: the
	// index or manifest digest on the containerd image store, the config digest on
	// the classic store.
	var img daemon.Image
	for _, id := range ids {
		if img, err = daemon.Resolve(ctx, dockerCli.Client(), id); err == nil {
			break
		}
	}
	if err != nil {
		return failed(fmt.Errorf("the built image %s is not in the local image store (add --load for a BuildKit builder that does not load): %v", ids[0], err))
	}
	if len(refs) > 0 {
		img.Input = reference.FamiliarString(refs[0])
	}
	out, err := scanAndJudge(ctx, dockerCli, img, opts, pol, source)
	if !push {
		if err != nil {
			return failedCtx(ctx, err)
		}
		perr := publishOutcome(ctx, dockerCli, out, opts, "", false)
		if !out.verdict.Pass {
			if perr != nil {
				fmt.Fprintf(dockerCli.Err(), "ERROR: %v\n", perr)
			}
			return cli.StatusError{StatusCode: ExitBlocked, Status: "docker secscan: the image built is blocked by policy"}
		}
		if perr != nil {
			return failedCtx(ctx, perr)
		}
		return nil
	}
	code, err := decide(ctx, dockerCli, img.Input, out, err, pol, opts)
	if err != nil {
		return failedCtx(ctx, err)
	}
	if code == ExitBlocked {
		return cli.StatusError{StatusCode: ExitBlocked, Status: "docker secscan: " + strings.Join(tags, ", ") + " not pushed: blocked by policy"}
	}
	var done []string
	for i, ref := range refs {
		if _, err := pushScanned(ctx, dockerCli, ref, img, out, opts); err != nil {
			if len(done) > 0 || i < len(refs)-1 {
				var rest []string
				for _, r := range refs[i+1:] {
					rest = append(rest, reference.FamiliarString(r))
				}
				err = fmt.Errorf("%v (pushed: %s; not pushed: %s)", err, strings.Join(orNone(done), ", "), strings.Join(orNone(rest), ", "))
			}
			return failedCtx(ctx, err)
		}
		done = append(done, reference.FamiliarString(ref))
	}
	return nil
}

// builtImageIDs lists the digests a build reported for its image, most specific
// first: BuildKit's exporter response in the metadata file (containerimage.digest,
// the index or manifest that Docker's containerd image store names the image by;
// then containerimage.config.digest, the ID on the classic store), then the
// --iidfile (which buildx fills with the config digest). Duplicates are dropped.
func builtImageIDs(iidfile, metadataFile string) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "sha256:") && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if b, err := os.ReadFile(metadataFile); err == nil {
		var md map[string]any
		if json.Unmarshal(b, &md) == nil {
			for _, k := range []string{exptypes.ExporterImageDigestKey, exptypes.ExporterImageConfigDigestKey} {
				if s, ok := md[k].(string); ok {
					add(s)
				}
			}
		}
	}
	if b, err := os.ReadFile(iidfile); err == nil {
		add(string(b))
	}
	return out
}

// dockerCLIPath is the docker CLI that started the plugin (so a build runs with the
// same binary and plugins), or docker on PATH.
func dockerCLIPath() string {
	if p := os.Getenv(metadata.ReexecEnvvar); p != "" {
		return p
	}
	return "docker"
}

// buildxInstalled reports whether `docker build` goes through buildx (which accepts
// --metadata-file). DOCKER_BUILDKIT=0 selects the classic builder.
func buildxInstalled() bool {
	if os.Getenv("DOCKER_BUILDKIT") == "0" {
		return false
	}
	return exec.Command(dockerCLIPath(), "buildx", "version").Run() == nil
}
