package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/docker-secscan/docker-secscan/internal/attest"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/registry"
	"github.com/docker-secscan/docker-secscan/internal/version"
)

// attachOptions are push's --attach flags (attest does the work).
type attachOptions struct {
	attach   bool
	required bool
	signKey  string

	// Set by prepare.
	on     bool
	signer *attest.Signer
	// done holds the repository@digest already given records in this run (build --push
	// pushes one image under each -t tag: same repository, same digest, same records).
	done map[string]bool
}

func (o *attachOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.attach, "attach", false, "After the push, attach the scan (Cosign's vuln predicate), the SBOM (CycloneDX) and the gate's verdict to the pushed digest as OCI 1.1 referrers (default: the policy's publish.attach)")
	fs.BoolVar(&o.required, "attach-required", false, "Exit 1 when the records cannot be attached (the image stays pushed); by default a failed attach only warns")
	fs.StringVar(&o.signKey, "sign-key", "", "Sign the attached records with this Cosign private key (cosign.key; its password in $COSIGN_PASSWORD), as 'cosign attest' does")
}

// prepare decides whether the push attaches and loads the signing key before anything
// is scanned, so that a wrong key or password fails the run before the push, not after
// it. --attach given (true or false; attachSet) wins over the policy's publish.attach;
// --attach-required and --sign-key ask for the records too, and contradict
// --attach=false.
func (o *attachOptions) prepare(pol policy.Policy, attachSet bool) error {
	switch {
	case attachSet && !o.attach && (o.required || o.signKey != ""):
		return fmt.Errorf("--attach=false contradicts --attach-required and --sign-key, which attach records: leave one out")
	case attachSet:
		o.on = o.attach
	default:
		o.on = o.required || o.signKey != "" || pol.Attach
	}
	if o.signKey == "" {
		return nil
	}
	s, err := attest.LoadSigner(o.signKey, []byte(os.Getenv("COSIGN_PASSWORD")))
	if err != nil {
		return fmt.Errorf("--sign-key: %v", err)
	}
	o.signer = s
	return nil
}

// attachOutcome attaches the scan records to what the push left under tagged (digest
// pushed): the pushed manifest or index, and on the containerd store each scanned
// platform manifest. A failure warns (the image is pushed) unless --attach-required.
func attachOutcome(ctx context.Context, dockerCli command.Cli, out *scanOutcome, opts *gateOptions, tagged reference.NamedTagged, digest string, creds registry.Credentials, insecure bool) error {
	if !opts.attach.on {
		return nil
	}
	if out == nil || out.result == nil {
		fmt.Fprintf(dockerCli.Err(), "WARNING: no records attached to %s@%s: it was pushed UNSCANNED (on-scan-error: warn)\n", tagged.Name(), digest)
		return nil
	}
	key := tagged.Name() + "@" + digest
	if opts.attach.done[key] {
		return nil
	}
	err := attachRecords(ctx, out, opts, tagged, digest, creds, insecure)
	if ctx.Err() != nil {
		return afterPush{fmt.Sprintf("interrupted after the push: %s was pushed as %s, and its records may be attached in part: run 'docker secscan push --attach %s' again",
			reference.FamiliarString(tagged), digest, reference.FamiliarString(tagged))}
	}
	if err == nil {
		if opts.attach.done == nil {
			opts.attach.done = map[string]bool{}
		}
		opts.attach.done[key] = true
	}
	if err == nil {
		how := "unsigned"
		if opts.attach.signer != nil {
			how = "signed with " + opts.attach.signKey
		}
		fmt.Fprintf(dockerCli.Err(), "Attached the scan, SBOM and verdict to %s@%s (%s): check them with 'docker secscan verify %s@%s'\n",
			tagged.Name(), digest, how, reference.FamiliarName(tagged), digest)
		return nil
	}
	if opts.attach.required {
		return fmt.Errorf("%s was pushed as %s, but its records could not be attached (--attach-required): %v", reference.FamiliarString(tagged), digest, err)
	}
	fmt.Fprintf(dockerCli.Err(), "WARNING: %s was pushed, but its records could not be attached: %v\n", reference.FamiliarString(tagged), err)
	return nil
}

func attachRecords(ctx context.Context, out *scanOutcome, opts *gateOptions, tagged reference.NamedTagged, digest string, creds registry.Credentials, insecure bool) error {
	repo, err := name.NewRepository(tagged.Name(), registry.NameOptions(insecure)...)
	if err != nil {
		return err
	}
	g := attest.Gate{Repository: tagged.Name(), Reference: tagged.String(), Scan: out.result.Scan, Verdict: out.verdict, Policy: out.policy,
		Version: version.Version, Now: time.Now()}
	if opts.ci != nil {
		g.CI = *opts.ci
	}
	sup := suppressions(out.verdict)
	render := func(format, platform string) ([]byte, error) {
		var buf bytes.Buffer
		err := out.result.WritePlatform(ctx, &buf, format, sup, platform)
		return buf.Bytes(), err
	}
	ropts := registry.RemoteOptions(ctx, creds)
	var failed []string
	for _, t := range attest.Targets(digest, out.result.Scan.Image.Platforms) {
		sts, err := attest.Statements(g, t, render)
		if err != nil {
			return err
		}
		if _, err := attest.Attach(repo.Digest(t.Digest), sts, opts.attach.signer, g.Now, ropts...); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}
