package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/spf13/cobra"

	"github.com/docker-secscan/docker-secscan/internal/engine"
	"github.com/docker-secscan/docker-secscan/internal/policy"
)

// Media types of the layer of Trivy's DB artifacts (trivy pkg/db, pkg/javadb).
const (
	dbLayerMediaType     = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	javaDBLayerMediaType = "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip"
)

func newDBMirrorCommand(dockerCli command.Cli) *cobra.Command {
	opts := &dbOptions{}
	var javaDB, insecure bool
	var policyFile string
	cmd := &cobra.Command{
		Use:   "mirror [--java-db] DEST",
		Short: "Copy Trivy's DB artifact into your own registry, for runners and Trivy servers to download from",
		Long: `Copy Trivy's vulnerability DB artifact (with --java-db: the Java DB) from the DB
repositories this machine is set to use (--db-repository, $SECSCAN_DB_REPOSITORY,
db.repository in the policy, else Trivy's defaults; tried in order) into DEST, a
repository of your registry (":2" is added when DEST has no tag, ":1" with --java-db).
The artifact is copied as it is (same manifest digest); credentials come from
'docker login'. Runners and Trivy servers then use --db-repository DEST.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return failed(fmt.Errorf("%q needs exactly one DEST (REGISTRY/REPOSITORY[:TAG]), got %d: run '%s --help'", cmd.CommandPath(), len(args), cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, polPath, err := loadDBPolicy(policyFile)
			if err != nil {
				return failed(err)
			}
			if err := opts.resolveRepositories(cmd.Flags(), pol, polPath); err != nil {
				return failed(err)
			}
			srcs, flag, schema, layerType := opts.repositories, "db-repository", engine.DBSchemaVersion, dbLayerMediaType
			if javaDB {
				srcs, flag, schema, layerType = opts.javaRepositories, "java-db-repository", engine.JavaDBSchemaVersion, javaDBLayerMediaType
				if len(srcs) == 0 {
					srcs = engine.DefaultJavaDBRepositories
				}
			} else if len(srcs) == 0 {
				srcs = engine.DefaultDBRepositories
			}
			src, digest, err := mirrorDB(cmd.Context(), srcs, flag, args[0], schema, layerType, insecure)
			if err != nil {
				return failedCtx(cmd.Context(), err)
			}
			what := "vulnerability DB"
			if javaDB {
				what = "Java DB"
			}
			to := dbDest(args[0], schema)
			// The result on stdout (a script may read it), as 'docker push' prints its digest.
			fmt.Fprintf(dockerCli.Out(), "Mirrored the %s %s (%s) to %s: use --%s %s on runners and Trivy servers\n",
				what, src, digest, to, flag, strings.TrimSuffix(to, fmt.Sprintf(":%d", schema)))
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	_ = cmd.Flags().MarkHidden("cache-dir")
	_ = cmd.Flags().MarkHidden("skip-db-update")
	_ = cmd.Flags().MarkHidden("no-progress")
	cmd.Flags().BoolVar(&javaDB, "java-db", false, "Mirror Trivy's Java DB (ghcr.io/aquasecurity/trivy-java-db:1) instead of the vulnerability DB")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "Allow plain HTTP and unverified TLS for registries other than localhost and 127.0.0.1")
	cmd.Flags().StringVar(&policyFile, "policy", "", "Policy file whose db.repository and db.java-repository apply (default: "+policy.DefaultFileName+" in the working directory, else in the git root)")
	return cmd
}

// dbDest is DEST with the schema tag when it has none.
func dbDest(dest string, schema int) string {
	if _, err := name.NewRepository(dest); err == nil {
		return fmt.Sprintf("%s:%d", dest, schema)
	}
	return dest
}

// mirrorTimeout bounds the whole copy (the DB is about 80 MB, the Java DB about 900 MB).
const mirrorTimeout = 30 * time.Minute

// mirrorDB copies the first source that holds Trivy's DB artifact (one layer of
// layerType) to dest, unchanged, and returns the source and the manifest digest.
func mirrorDB(ctx context.Context, srcs []string, flag, dest string, schema int, layerType string, insecure bool) (string, string, error) {
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	dst, err := name.ParseReference(dbDest(strings.TrimSpace(dest), schema), nopts...)
	if err != nil || strings.Contains(dest, "://") {
		return "", "", fmt.Errorf("DEST %q is not an OCI reference: give REGISTRY/REPOSITORY[:TAG] (no scheme)", engine.MaskURL(dest))
	}
	if _, ok := dst.(name.Digest); ok {
		return "", "", fmt.Errorf("DEST %s names a digest: give REGISTRY/REPOSITORY[:TAG] (the copy keeps the source's manifest digest, and runners download by tag)", dst)
	}
	refs, err := engine.ParseDBRepositories(srcs, flag, schema)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, mirrorTimeout)
	defer cancel()
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	var why []string
	for _, r := range refs {
		src := r
		if insecure {
			if s, err := name.ParseReference(r.String(), name.Insecure); err == nil {
				src = s
			}
		}
		if src.Context().Name() == dst.Context().Name() && src.Identifier() == dst.Identifier() {
			return "", "", fmt.Errorf("DEST %s is the source %s itself: give another repository", dst, src)
		}
		img, err := remote.Image(src, ropts...)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %s", src, registryErr(err, src.Context().RegistryStr())))
			continue
		}
		m, err := img.Manifest()
		if err != nil || len(m.Layers) != 1 || string(m.Layers[0].MediaType) != layerType {
			why = append(why, fmt.Sprintf("%s: not Trivy's DB artifact (want one layer of %s)", src, layerType))
			continue
		}
		if err := remote.Write(dst, img, ropts...); err != nil {
			if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
				return "", "", ctx.Err()
			}
			return "", "", fmt.Errorf("cannot write the DB to %s: %s: check the registry and 'docker login %s'", dst, registryErr(err, dst.Context().RegistryStr()), dst.Context().RegistryStr())
		}
		d, err := img.Digest()
		if err != nil {
			return "", "", err
		}
		got, err := remote.Head(dst, ropts...)
		if err != nil || got.Digest != d {
			return "", "", fmt.Errorf("%s does not hold the copied DB (%s) after the copy: check the registry", dst, d)
		}
		return src.String(), d.String(), nil
	}
	return "", "", fmt.Errorf("no DB to mirror: %s: set the source with --%s", strings.Join(why, "; "), flag)
}

func oneLineErr(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// registryErr words a registry's answer without go-containerregistry's dump of its
// error details ("[map[Action:pull ...]]"): a refused login says to log in.
func registryErr(err error, registry string) string {
	var te *transport.Error
	if !errors.As(err, &te) {
		return oneLineErr(err)
	}
	if te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
		return fmt.Sprintf("access denied (HTTP %d): run 'docker login %s' with an account that may read it", te.StatusCode, registry)
	}
	var parts []string
	for _, d := range te.Errors {
		parts = append(parts, strings.TrimSpace(string(d.Code)+" "+d.Message))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("HTTP %d", te.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", te.StatusCode, oneLineErr(errors.New(strings.Join(parts, "; "))))
}
