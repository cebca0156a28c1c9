package plugin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/registry"
)

func newPushCommand(dockerCli command.Cli) *cobra.Command {
	opts := &gateOptions{}
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Scan an image, gate it, and push it only if it passed",
		Long: `Scan NAME[:TAG] from the local image store right before pushing it, apply the
severity gate, and push it through the daemon exactly as 'docker push' does (same
credentials, credential helpers and insecure-registry settings) only when it passed.

The tag is resolved to an image ID once; that ID is scanned, the push is refused if the
tag moved to another image meanwhile, and the pushed manifest is read back from the
registry to check that its config digest is the scanned image ID.

` + exitCodesHelp,
		Args: exactlyOneImage,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd, dockerCli, args[0], opts)
		},
	}
	opts.addFlags(cmd.Flags())
	opts.attach.addFlags(cmd.Flags())
	opts.addPlatformFlag(cmd.Flags(), "scan and push")
	return cmd
}

// runPush returns nil (exit 0) after a push, a StatusError with ExitBlocked when the gate
// refused, or a StatusError with ExitFailed for any other failure (nothing pushed,
// except when only the read-back check after the push failed, which says so).
func runPush(cmd *cobra.Command, dockerCli command.Cli, input string, opts *gateOptions) error {
	code, err := push(cmd, dockerCli, input, opts)
	if err != nil {
		return failedCtx(cmd.Context(), err)
	}
	if code == ExitBlocked {
		return cli.StatusError{StatusCode: ExitBlocked, Status: "docker secscan: " + input + " was not pushed: blocked by policy"}
	}
	return nil
}

func push(cmd *cobra.Command, dockerCli command.Cli, input string, opts *gateOptions) (int, error) {
	ctx := cmd.Context()
	if strings.HasPrefix(input, "sha256:") {
		// The reference grammar would read "sha256:<hex>" as repository "sha256".
		return ExitFailed, fmt.Errorf("cannot push %q: push a tag (NAME:TAG), not an image ID", input)
	}
	if len(input) == 64 && imageIDHex.MatchString(input) {
		// A full ID cannot be a repository name.
		return ExitFailed, fmt.Errorf("cannot push %q: push a tag (NAME:TAG), not an image ID", input)
	}
	named, err := daemon.ParseReference(input)
	if err != nil {
		return ExitFailed, err
	}
	if isImageIDPrefix(ctx, dockerCli, input) {
		return ExitFailed, fmt.Errorf("cannot push %q: push a tag (NAME:TAG), not an image ID", input)
	}
	tagged, ok := named.(reference.NamedTagged)
	if _, digested := named.(reference.Digested); digested {
		ok = false // NAME:TAG@DIGEST: docker push takes a tag alone
	}
	if !ok {
		return ExitFailed, fmt.Errorf("cannot push %q: push a tag (NAME:TAG), not a digest", input)
	}
	pol, source, err := opts.resolvePolicy(cmd, time.Now())
	if err != nil {
		return ExitFailed, err
	}
	if err := opts.attach.prepare(pol, cmd.Flags().Changed("attach")); err != nil {
		return ExitFailed, err
	}
	familiar := reference.FamiliarString(tagged)
	img, err := daemon.Resolve(ctx, dockerCli.Client(), familiar)
	if err != nil {
		return ExitFailed, err
	}
	if opts.platform != "" {
		if err := daemon.CheckPushPlatform(dockerCli.Client()); err != nil {
			return ExitFailed, err
		}
	}
	out, err := scanAndJudge(ctx, dockerCli, img, opts, pol, source)
	if code, err := decide(ctx, dockerCli, familiar, out, err, pol, opts); code != ExitPassed || err != nil {
		return code, err
	}
	return pushScanned(ctx, dockerCli, tagged, img, out, opts)
}

// decide turns a scan outcome into "go on and push" (ExitPassed, nil), blocked
// (ExitBlocked: the verdict was published), or a failure. A failed scan pushes only
// when the policy says on-scan-error: warn, and never after an interrupt.
func decide(ctx context.Context, dockerCli command.Cli, name string, out *scanOutcome, err error, pol policy.Policy, opts *gateOptions) (int, error) {
	if out != nil {
		out.pushAsked = true
	}
	var se scanError
	switch {
	case ctx.Err() != nil:
		return ExitFailed, ctx.Err()
	case errors.As(err, &se) && pol.OnScanError == policy.ActionWarn:
		fmt.Fprintf(dockerCli.Err(), "WARNING: the scan failed and the policy says on-scan-error: warn, so %s is pushed UNSCANNED: %v\n", name, err)
	case err != nil:
		return ExitFailed, err
	case !out.verdict.Pass:
		// Blocked is the news, even when publishing it failed too (that is printed).
		if perr := publishOutcome(ctx, dockerCli, out, opts, "", false); perr != nil {
			fmt.Fprintf(dockerCli.Err(), "ERROR: %v\n", perr)
		}
		return ExitBlocked, nil
	}
	return ExitPassed, nil
}

// pushScanned pushes tagged, which must still name img (the image that was scanned),
// checks what the registry then holds under the tag, and publishes the outcome (out
// may be nil after a failed scan that the policy let through).
func pushScanned(ctx context.Context, dockerCli command.Cli, tagged reference.NamedTagged, img daemon.Image, out *scanOutcome, opts *gateOptions) (int, error) {
	id := img.ID
	familiar := reference.FamiliarString(tagged)
	out = namedAs(out, familiar)
	stderr := dockerCli.Err()
	// Scan what you push: the tag must still name the scanned image.
	now, err := daemon.Resolve(ctx, dockerCli.Client(), familiar)
	if err != nil {
		return ExitFailed, err
	}
	if now.ID != id {
		return ExitFailed, fmt.Errorf("%s moved from %s to %s during the scan: nothing pushed, run again", familiar, id, now.ID)
	}
	if err := samePlatforms(img, now, out, opts.platform); err != nil {
		return ExitFailed, fmt.Errorf("%s: %v: nothing pushed, run again", familiar, err)
	}

	encodedAuth, err := command.RetrieveAuthTokenFromImage(dockerCli.ConfigFile(), tagged.String())
	if err != nil {
		return ExitFailed, fmt.Errorf("registry credentials for %s: %v", reference.Domain(tagged), err)
	}
	// Whether the read-back must use plain HTTP: asked now, answered during the push.
	insecureCh := make(chan bool, 1)
	go func() { insecureCh <- daemon.InsecureRegistry(ctx, dockerCli.Client(), reference.Domain(tagged)) }()
	// Push progress goes to stderr: stdout carries only the report, so that
	// `push -f json > report.json` stays valid JSON.
	errOut := dockerCli.Err()
	pushed, err := daemon.Push(ctx, dockerCli.Client(), tagged, encodedAuth, opts.platform, errOut, errOut.FD(), errOut.IsTerminal())
	if err != nil {
		// The scan happened: publish it, marked not pushed.
		publishAnyway(ctx, dockerCli, out, opts, "", false)
		return ExitFailed, err
	}

	creds, err := registryCredentials(dockerCli, reference.Domain(tagged))
	if err != nil {
		return ExitFailed, err
	}
	insecure := <-insecureCh
	if err := registry.VerifyPushed(ctx, tagged.Name(), pushExpectation(img, pushed, out), creds, insecure); err != nil {
		if errors.Is(err, registry.ErrNotScanned) {
			// What the registry got is not the scanned image: the scan is published as
			// not pushed, never tied to a digest it did not look at.
			publishAnyway(ctx, dockerCli, out, opts, "", false)
			return ExitFailed, fmt.Errorf("%s now names %s in the registry, which is NOT the image that was scanned (the local tag moved during the push: %v): delete that tag from the registry, or push the scanned image again", familiar, pushed.Digest, err)
		}
		// The scanned image is in the registry (the check could not confirm it): its
		// scan is published all the same.
		publishAnyway(ctx, dockerCli, out, opts, pushed.Digest, true)
		return ExitFailed, fmt.Errorf("%s was pushed as %s, but the check of the pushed manifest failed: %v", familiar, pushed.Digest, err)
	}
	fmt.Fprintf(stderr, "Pushed %s@%s (image %s)\n", familiar, pushed.Digest, shortID(id))
	if err := attachOutcome(ctx, dockerCli, out, opts, tagged, pushed.Digest, creds, insecure); err != nil {
		publishAnyway(ctx, dockerCli, out, opts, pushed.Digest, true)
		return ExitFailed, err
	}
	if out != nil {
		if err := publishOutcome(ctx, dockerCli, out, opts, pushed.Digest, true); err != nil {
			return ExitFailed, fmt.Errorf("%s was pushed, but %v", familiar, err)
		}
	}
	return ExitPassed, nil
}

// samePlatforms checks that the platform images the daemon holds now (and would push)
// are the ones the scan covered: on the containerd store an index gains platforms
// under the same ID when content is pulled or loaded later. out is nil after a failed
// scan the policy let through; platform is --platform (the push sends that one only).
func samePlatforms(before, now daemon.Image, out *scanOutcome, platform string) error {
	if !slices.Equal(before.Available, now.Available) {
		return fmt.Errorf("the platform images of %s changed during the scan (%s, now %s)", shortID(now.ID), strings.Join(before.Platforms, ", "), strings.Join(now.Platforms, ", "))
	}
	if out == nil || out.result == nil || platform != "" {
		return nil
	}
	scanned := map[string]bool{}
	for _, p := range out.result.Scan.Image.Platforms {
		if p.Manifest != "" {
			scanned[p.Manifest] = true
		}
	}
	if len(scanned) == 0 {
		return nil // the classic store: the ID is the config that was scanned
	}
	for i, m := range now.Available {
		if !scanned[m] {
			return fmt.Errorf("platform image %s (%s) is in the local store and a push would send it, but it was not scanned", now.Platforms[i], m)
		}
	}
	return nil
}

// pushExpectation says what the registry must hold after pushing img: on Docker's
// containerd image store the tag names the local image ID (the index or manifest
// pushed), or, when the daemon pushed one platform's manifest, a manifest that was
// scanned; on the classic store a manifest whose config is the image ID.
func pushExpectation(img daemon.Image, pushed daemon.PushResult, out *scanOutcome) registry.Expect {
	exp := registry.Expect{Tag: pushed.Tag, Digest: pushed.Digest}
	if exp.Tag == "" && img.Named != nil {
		if t, ok := img.Named.(reference.Tagged); ok {
			exp.Tag = t.Tag()
		}
	}
	if img.Store != daemon.StoreContainerd {
		exp.Config = img.ID
		return exp
	}
	exp.Digests = []string{img.ID}
	if pushed.SinglePlatform && out != nil && out.result != nil {
		for _, p := range out.result.Scan.Image.Platforms {
			if p.Manifest != "" {
				exp.Digests = append(exp.Digests, p.Manifest)
			}
		}
	}
	return exp
}

// publishAnyway publishes a scan on a path that fails for another reason: a
// publication problem only warns there, since the run already fails.
func publishAnyway(ctx context.Context, dockerCli command.Cli, out *scanOutcome, opts *gateOptions, digest string, pushed bool) {
	if out == nil || ctx.Err() != nil {
		return
	}
	if err := publishOutcome(ctx, dockerCli, out, opts, digest, pushed); err != nil {
		fmt.Fprintf(dockerCli.Err(), "WARNING: %v\n", err)
	}
}

// namedAs returns the outcome with its scan naming the image as ref (a build pushes one
// scanned image under each of its tags: each push publishes its own tag), or out itself
// when it already does (or is nil).
func namedAs(out *scanOutcome, ref string) *scanOutcome {
	if out == nil || out.result == nil || out.result.Scan.Image.Reference == ref {
		return out
	}
	o := *out
	r := *out.result
	r.Scan.Rename(ref)
	o.result = &r
	return &o
}

// imageIDHex is what the docker CLI takes as an image ID or ID prefix without "sha256:".
var imageIDHex = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// isImageIDPrefix reports whether input, which reads as a repository name, is meant as
// an image ID (or its prefix): no image NAME:latest by that name is in the local store,
// and an image whose ID starts with it is. (The daemon looks a bare hex string up the
// same way: a name first, then an ID prefix.)
func isImageIDPrefix(ctx context.Context, dockerCli command.Cli, input string) bool {
	if !imageIDHex.MatchString(input) {
		return false
	}
	if _, err := daemon.Resolve(ctx, dockerCli.Client(), input+":latest"); err == nil {
		return false
	}
	img, err := daemon.Resolve(ctx, dockerCli.Client(), input)
	return err == nil && strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), input)
}
