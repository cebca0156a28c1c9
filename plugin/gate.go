package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/docker/cli/cli/command"

	"github.com/docker-secscan/docker-secscan/internal/daemon"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/scanner"
)

// scanOutcome is one image scanned and judged.
type scanOutcome struct {
	image   daemon.Image
	result  *scanner.Result
	verdict policy.Verdict
}

// scanAndJudge resolves input in the local store, scans that image ID, applies the gate,
// and writes the report (to opts.output, or stdout). Any error means the image was not
// fully scanned: callers must not push.
func scanAndJudge(ctx context.Context, dockerCli command.Cli, input string, opts *gateOptions, gate policy.Gate) (*scanOutcome, error) {
	api := dockerCli.Client()
	img, err := daemon.Resolve(ctx, api, input)
	if err != nil {
		return nil, err
	}
	sc, err := scanner.Open(ctx, scanner.Options{DB: opts.db.scannerDB(), NoProgress: opts.db.noProgress})
	if err != nil {
		return nil, err
	}
	defer sc.Close()

	fmt.Fprintf(dockerCli.Err(), "Scanning %s (%s)\n", input, shortID(img.ID))
	archive, err := daemon.Save(ctx, api, img.ID, "")
	if err != nil {
		return nil, err
	}
	defer os.Remove(archive)
	res, err := sc.Scan(ctx, scanner.Image{
		ArchivePath: archive,
		Reference:   input,
		ID:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
	})
	if err != nil {
		return nil, err
	}
	out := &scanOutcome{image: img, result: res, verdict: gate.Evaluate(res.Findings)}
	if err := writeReport(ctx, dockerCli, res, opts); err != nil {
		return nil, err
	}
	return out, nil
}

func writeReport(ctx context.Context, dockerCli command.Cli, res *scanner.Result, opts *gateOptions) error {
	buf := new(bytes.Buffer)
	wopts := scanner.WriteOptions{Color: opts.output == "" && dockerCli.Out().IsTerminal()}
	if err := res.Write(ctx, buf, opts.format, wopts); err != nil {
		return err
	}
	if opts.output != "" {
		if err := writeFileAtomic(opts.output, buf.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(dockerCli.Err(), "Report written to %s\n", opts.output)
		return nil
	}
	_, err := dockerCli.Out().Write(buf.Bytes())
	return err
}

func shortID(id string) string {
	if len(id) > 19 {
		return id[:19]
	}
	return id
}
