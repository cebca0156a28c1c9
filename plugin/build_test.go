package plugin

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestBuildTags(t *testing.T) {
	tests := []struct {
		args              []string
		tags              []string
		iidfile, metadata string
	}{
		{[]string{"-t", "a:1", "--tag", "b:2", "--tag=c:3", "-td:4", "-t=e:5", "."}, []string{"a:1", "b:2", "c:3", "d:4", "e:5"}, "", ""},
		{[]string{"-qt", "a:1", "-t", "b:2", "."}, []string{"a:1", "b:2"}, "", ""},
		{[]string{"-f", "Dockerfile.t", "-qtx:1", "."}, []string{"x:1"}, "", ""},
		{[]string{"-ft", "."}, nil, "", ""}, // -f's value is "t"
		{[]string{"--iidfile", "/tmp/i", "--metadata-file=/tmp/m", "."}, nil, "/tmp/i", "/tmp/m"},
		{[]string{".", "--", "-t", "x:1"}, nil, "", ""},
	}
	for _, tt := range tests {
		tags, iid, md := buildTags(tt.args)
		if !reflect.DeepEqual(tags, tt.tags) || iid != tt.iidfile || md != tt.metadata {
			t.Errorf("buildTags(%q) = %q %q %q", tt.args, tags, iid, md)
		}
	}
}

func TestSplitBuildArgs(t *testing.T) {
	opts := &gateOptions{}
	var push bool
	fs := buildFlags(opts, &push)
	ours, theirs := splitBuildArgs(fs, []string{"--push", "-t", "a:1", "--severity-threshold", "CRITICAL", "--build-arg", "X=1", "--best-practices=block", "-f", "D", "--ignore-unfixed", "--debug", "."})
	if !reflect.DeepEqual(ours, []string{"--push", "--severity-threshold", "CRITICAL", "--best-practices=block", "--ignore-unfixed", "--debug"}) {
		t.Errorf("ours = %q", ours)
	}
	if !reflect.DeepEqual(theirs, []string{"-t", "a:1", "--build-arg", "X=1", "-f", "D", "."}) {
		t.Errorf("theirs = %q", theirs)
	}
	if err := fs.Parse(ours); err != nil {
		t.Fatal(err)
	}
	if !fs.Changed("severity-threshold") || !fs.Changed("ignore-unfixed") || !fs.Changed("best-practices") || !push {
		t.Error("build's own flags are not seen as set: the policy would ignore them")
	}
}

func TestPushingOutputsAreRefused(t *testing.T) {
	pushing := [][]string{
		{"-o", "type=registry,name=r/a:1"},
		{"--output", "type=image,name=r/a:1,push=true"},
		{"--output=type=image,name=r/a:1,push=1"},
		{"-o", "type=image,name=r/a:1,push=True"},
		{"-o", "type=image,name=r/a:1,PUSH=t"},
		{"-o", "TYPE=registry,name=r/a:1"},
		{"-o", `type=image,"name=r/a:1,r/a:2",push=t`},
		{"-qo", "type=registry,name=r/a:1"},
		{"-qotype=registry,name=r/a:1"},
		{"-o=type=registry"},
		{"-otype=image,push=yes-please"},
		{"-t", "x:1", "-q", "-o", "type=image,push=true", "."},
		{"--label", "--", "-o", "type=registry", "-t", "x:1", "."},
		{"--build-arg", "--", "--output=type=registry", "."},
		{"-o", "type=image,annotation.x=a\n,push=true"},
	}
	for _, args := range pushing {
		if pushingOutput(args) == "" {
			t.Errorf("%q pushes: it must be refused", args)
		}
	}
	fine := [][]string{
		{"-o", "type=docker"},
		{"-o", "./out"},
		{"--output", "type=image,name=r/a:1,push=false"},
		{"-qt", "registry/app:1", "."},
		{"-f", "Dockerfile.push", "."},
	}
	for _, args := range fine {
		if got := pushingOutput(args); got != "" {
			t.Errorf("%q does not push, refused as %q", args, got)
		}
	}
}

func TestBuildQuiet(t *testing.T) {
	for args, want := range map[string]bool{
		"-q .": true, "--quiet .": true, "-qt app:1 .": true, "-t app:1 -q .": true,
		"-t q .": false, "-tq .": false, ". -- -q": false, "-t app:1 .": false,
	} {
		if got := buildQuiet(strings.Fields(args)); got != want {
			t.Errorf("buildQuiet(%s) = %v, want %v", args, got, want)
		}
	}
}

func TestReportToDevStdoutKeepsTheFileBehindIt(t *testing.T) {
	for p, want := range map[string]*os.File{"/dev/stdout": os.Stdout, "/dev/stderr": os.Stderr, "/proc/self/fd/1": os.Stdout, "/dev/fd/2": os.Stderr, "/dev/fd/0": nil, "/dev/fd/5": nil} {
		if f, ok := fdPath(p); !ok || f != want {
			t.Errorf("fdPath(%s) = %v, %v", p, f, ok)
		}
	}
	if _, ok := fdPath("/tmp/report.json"); ok {
		t.Error("a plain path is no descriptor")
	}
	if err := checkOutputPath("--output", "/dev/fd/3"); err == nil || !strings.Contains(err.Error(), "only stdout and stderr") {
		t.Errorf("/dev/fd/3 is the plugin's own descriptor, never the caller's: %v", err)
	}
	if err := checkOutputPath("--output", "/dev/stdout"); err != nil {
		t.Errorf("/dev/stdout: %v", err)
	}
}
