package daemon

import (
	"context"
	"io"
	"iter"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// fakePush answers ImagePush with a recorded push stream.
type fakePush struct {
	API
	stream   string
	platform string // the platform the push asked for
}

func (f *fakePush) ImagePush(_ context.Context, _ string, opts client.ImagePushOptions) (client.ImagePushResponse, error) {
	if opts.Platform != nil {
		f.platform = opts.Platform.OS + "/" + opts.Platform.Architecture
	}
	return pushStream{io.NopCloser(strings.NewReader(f.stream))}, nil
}

type pushStream struct{ io.ReadCloser }

func (pushStream) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] { return nil }
func (pushStream) Wait(context.Context) error                                        { return nil }

const (
	idxDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	mfDigest  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// Push streams as each engine writes them: Docker 20.10's distribution pusher ends
// with an aux message; Docker 29's containerd pusher only with a status line, and says
// in an aux message when it pushed a platform manifest instead of the index.
func TestPushTakesTheDigestFromEveryEnginesStream(t *testing.T) {
	ref, _ := reference.ParseNormalizedNamed("127.0.0.1:5000/app:1")
	tagged := ref.(reference.NamedTagged)
	for _, tc := range []struct {
		name, stream, platform string
		want                   PushResult
		err                    string
	}{
		{
			name: "classic store: aux",
			stream: `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"status":"1: digest: ` + mfDigest + ` size: 527"}
{"progressDetail":{},"aux":{"Tag":"1","Digest":"` + mfDigest + `","Size":527}}
`,
			want: PushResult{Tag: "1", Digest: mfDigest, Size: 527},
		},
		{
			name: "containerd store: status line only",
			stream: `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"status":"Pushed","progressDetail":{},"id":"abc"}
{"status":"1: digest: ` + idxDigest + ` size: 856"}
`,
			want: PushResult{Tag: "1", Digest: idxDigest, Size: 856},
		},
		{
			name: "containerd store: a platform manifest instead of the index",
			stream: `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"progressDetail":{},"aux":{"ManifestPushedInsteadOfIndex":true,"OriginalIndex":{"digest":"` + idxDigest + `"},"SelectedManifest":{"digest":"` + mfDigest + `"}}}
{"status":"1: digest: ` + mfDigest + ` size: 500"}
`,
			want: PushResult{Tag: "1", Digest: mfDigest, Size: 500, SinglePlatform: true},
		},
		{
			name:     "--platform",
			platform: "linux/arm64",
			stream:   `{"status":"1: digest: ` + mfDigest + ` size: 500"}` + "\n",
			want:     PushResult{Tag: "1", Digest: mfDigest, Size: 500, SinglePlatform: true},
		},
		{
			name:   "no digest: an error, never a pushed image of unknown digest",
			stream: `{"status":"The push refers to repository [127.0.0.1:5000/app]"}` + "\n",
			err:    "reported no digest",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakePush{stream: tc.stream}
			got, err := Push(context.Background(), api, tagged, "", tc.platform, io.Discard, 0, false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want an error with %q, got %v (%+v)", tc.err, err, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.platform != "" && api.platform != tc.platform {
				t.Errorf("the push asked for platform %q, want %q", api.platform, tc.platform)
			}
		})
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64": "linux/amd64", "linux/arm64": "linux/arm64", "linux/aarch64": "linux/arm64",
		"linux/arm/v7": "linux/arm/v7", "linux/arm64/v8": "linux/arm64",
	} {
		if got, err := ParsePlatform(in); err != nil || got != want {
			t.Errorf("ParsePlatform(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "linux", "linux/", "not a platform", "linux/amd64/v1/x"} {
		if got, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) = %q, want an error", bad, got)
		}
	}
}
