package plugin

import (
	"reflect"
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
