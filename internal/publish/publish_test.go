package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microsoft/ApplicationInsights-Go/appinsights/contracts"

	"github.com/docker-secscan/docker-secscan/internal/ci"
	"github.com/docker-secscan/docker-secscan/internal/policy"
	"github.com/docker-secscan/docker-secscan/internal/report"
)

const ikey = "11111111-2222-3333-4444-555555555555"

func TestParseConnectionString(t *testing.T) {
	cs, err := ParseConnectionString("InstrumentationKey=" + ikey + ";IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://x/")
	if err != nil || cs.TrackURL() != "https://westeurope-5.in.applicationinsights.azure.com/v2/track" {
		t.Fatalf("%+v %v", cs, err)
	}
	if cs, err := ParseConnectionString(ikey); err != nil || cs.IngestionEndpoint != DefaultIngestionEndpoint {
		t.Fatalf("bare key: %+v %v", cs, err)
	}
	if strings.Contains(cs.Redacted(), ikey) || !strings.Contains(cs.Redacted(), "5555") {
		t.Fatalf("Redacted() = %q", cs.Redacted())
	}
	for _, bad := range []string{"", "garbage-secret", "IngestionEndpoint=https://x/", "InstrumentationKey=k;IngestionEndpoint=ftp://x"} {
		_, err := ParseConnectionString(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}

func event(n int) ScanEvent {
	var fs []report.Finding
	var ds []policy.Decision
	for i := 0; i < n; i++ {
		f := report.Finding{Kind: report.KindVulnerability, VulnerabilityID: fmt.Sprintf("CVE-2024-%05d", i), PkgName: "pkg", Severity: report.Severity(i % 5)}
		fs = append(fs, f)
		disp := policy.Blocking
		var ex *policy.Exception
		if i%7 == 0 {
			disp, ex = policy.Excepted, &policy.Exception{ID: f.VulnerabilityID, Source: "p.yaml:3"}
		}
		ds = append(ds, policy.Decision{Finding: f, Disposition: disp, Exception: ex})
	}
	return ScanEvent{
		Scan:    report.Scan{Image: report.Image{Reference: "r/app:1", ID: "sha256:abc"}, Findings: fs, Scanner: "trivy v0.74.0", FinishedAt: time.Unix(0, 0)},
		Verdict: policy.Verdict{Decisions: ds, Blocking: n, Summary: "blocked"},
		CI:      ci.Context{Provider: "GitHub Actions", RunURL: "https://github.com/a/b/actions/runs/1", Ref: "refs/heads/main", CommitSHA: "sha1"},
		Digest:  "sha256:def", Pushed: true, Token: "sub-token-secret", RequestID: "req-1",
	}
}

func TestEnvelopeShape(t *testing.T) {
	cs, _ := ParseConnectionString(ikey)
	env := Envelope(event(3), cs, time.Unix(0, 0))
	b, _ := json.Marshal(env)
	var got struct {
		Name string
		IKey string
		Data struct {
			BaseType string
			BaseData struct {
				Name         string
				Properties   map[string]string
				Measurements map[string]float64
			}
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Microsoft.ApplicationInsights.11111111222233334444555555555555.Event" || got.Data.BaseType != "EventData" || got.Data.BaseData.Name != EventName {
		t.Fatalf("envelope: %s", b)
	}
	p := got.Data.BaseData.Properties
	var ctx, wf, vs map[string]any
	for name, dst := range map[string]*map[string]any{"context": &ctx, "workflow": &wf, "vulnscan": &vs} {
		if err := json.Unmarshal([]byte(p[name]), dst); err != nil {
			t.Fatalf("%s is not a JSON string: %q", name, p[name])
		}
	}
	if p["__version"] != "0.1" || ctx["artifactId"] != "sha256:def" || ctx["artifactType"] != "containerImage" ||
		wf["runUrl"] != "https://github.com/a/b/actions/runs/1" || wf["additionalData"].(map[string]any)["GITHUB_SHA"] != "sha1" ||
		vs["provider"] != "trivy v0.74.0" || p["ci.commit_sha"] != "sha1" || p["policy.verdict"] != "blocked" || p["image.digest"] != "sha256:def" {
		t.Fatalf("properties: %v", p)
	}
	if len(vs["allowList"].([]any)) != 1 {
		t.Fatalf("allowList: %v", vs["allowList"])
	}
	if got.Data.BaseData.Measurements["findings.total"] != 3 {
		t.Fatalf("measurements: %v", got.Data.BaseData.Measurements)
	}
}

func TestEnvelopeKeepsEveryPropertyShortWithoutLosingCounts(t *testing.T) {
	cs, _ := ParseConnectionString(ikey)
	ev := event(3000)
	env := Envelope(ev, cs, time.Now())
	b, _ := json.Marshal(env)
	var got struct {
		Data struct {
			BaseData struct {
				Properties   map[string]string
				Measurements map[string]float64
			}
		}
	}
	json.Unmarshal(b, &got)
	ids := map[string]bool{}
	for k, v := range got.Data.BaseData.Properties {
		if len(v) > MaxPropertyLength {
			t.Fatalf("%s is %d characters", k, len(v))
		}
		if strings.HasPrefix(k, "vulnscan.identifiers.") || strings.HasPrefix(k, "vulnscan.allowList") {
			for _, id := range strings.Split(v, ", ") {
				ids[id] = true
			}
		}
	}
	if len(ids) != 3000 {
		t.Fatalf("%d of 3000 identifiers survive in the split properties", len(ids))
	}
	total := 0.0
	for _, s := range report.Severities() {
		total += got.Data.BaseData.Measurements["severity."+s.String()]
	}
	if total != 3000 {
		t.Fatalf("severity counts add up to %v", total)
	}
}

// ingestion is a real HTTP server on 127.0.0.1 that records /v2/track posts and answers
// according to a script.
type ingestion struct {
	mu       sync.Mutex
	answers  []int // status per request; 0 = hang until the client gives up
	received []string
	srv      *httptest.Server
}

func newIngestion(t *testing.T, answers ...int) *ingestion {
	in := &ingestion{answers: answers}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		status := http.StatusOK
		if len(in.answers) > 0 {
			status, in.answers = in.answers[0], in.answers[1:]
		}
		if status == 0 {
			in.mu.Unlock()
			<-r.Context().Done()
			return
		}
		if status == http.StatusOK {
			in.received = append(in.received, string(body))
		}
		in.mu.Unlock()
		w.WriteHeader(status)
		if status == http.StatusOK {
			fmt.Fprint(w, `{"itemsReceived":1,"itemsAccepted":1,"errors":[]}`)
		}
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *ingestion) count() int { in.mu.Lock(); defer in.mu.Unlock(); return len(in.received) }

func TestSpoolAndRetryDeliverExactlyOnce(t *testing.T) {
	cs, _ := ParseConnectionString(ikey)
	refused := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		a := l.Addr().String()
		l.Close()
		return "http://" + a + "/v2/track"
	}()
	for name, setup := range map[string]func(*testing.T) (string, *ingestion){
		"refused": func(t *testing.T) (string, *ingestion) { return refused, nil },
		"hangs": func(t *testing.T) (string, *ingestion) {
			in := newIngestion(t, 0, 200)
			return in.srv.URL + "/v2/track", in
		},
		"500 then 200": func(t *testing.T) (string, *ingestion) {
			in := newIngestion(t, 500, 200)
			return in.srv.URL + "/v2/track", in
		},
	} {
		t.Run(name, func(t *testing.T) {
			url, in := setup(t)
			s := &Sender{SpoolDir: t.TempDir(), Timeout: 300 * time.Millisecond}
			err := s.Publish(context.Background(), url, Envelope(event(2), cs, time.Now()))
			if err == nil || !strings.Contains(err.Error(), "kept in") || s.Pending() != 1 {
				t.Fatalf("first attempt: err=%v pending=%d", err, s.Pending())
			}
			if strings.Contains(err.Error(), "sub-token-secret") || strings.Contains(err.Error(), ikey) {
				t.Fatalf("secret in error: %v", err)
			}
			if in == nil {
				in = newIngestion(t)
				// The refused endpoint is gone for good: point the spooled event at a live one
				// by retrying through a sender whose spool we rewrite.
				rewriteSpool(t, s.SpoolDir, url, in.srv.URL+"/v2/track")
			}
			sent, left, err := s.Retry(context.Background())
			if err != nil || sent != 1 || left != 0 || in.count() != 1 {
				t.Fatalf("retry: sent=%d left=%d err=%v received=%d", sent, left, err, in.count())
			}
			if sent, _, _ := s.Retry(context.Background()); sent != 0 || in.count() != 1 {
				t.Fatalf("delivered more than once")
			}
			if !strings.Contains(in.received[0], EventName) {
				t.Fatalf("payload: %s", in.received[0])
			}
		})
	}
}

func TestPartialAcceptIsAFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"itemsReceived":1,"itemsAccepted":0,"errors":[{"index":0,"statusCode":400,"message":"Invalid instrumentation key"}]}`)
	}))
	defer srv.Close()
	cs, _ := ParseConnectionString(ikey)
	s := &Sender{SpoolDir: t.TempDir(), Timeout: time.Second}
	if err := s.Publish(context.Background(), srv.URL+"/v2/track", Envelope(event(1), cs, time.Now())); err == nil || !strings.Contains(err.Error(), "Invalid instrumentation key") {
		t.Fatalf("err = %v", err)
	}
}

func TestNonAcknowledgingOKIsAFailure(t *testing.T) {
	for _, body := range []string{"<html>proxy login</html>", `{"itemsReceived":0,"itemsAccepted":0}`, ""} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
		cs, _ := ParseConnectionString(ikey)
		s := &Sender{SpoolDir: t.TempDir(), Timeout: time.Second}
		err := s.Publish(context.Background(), srv.URL+"/v2/track", Envelope(event(1), cs, time.Now()))
		srv.Close()
		if err == nil || s.Pending() != 1 {
			t.Errorf("body %q: err=%v pending=%d; want a failure and a spooled event", body, err, s.Pending())
		}
	}
}

func TestRetryTriesADeadEndpointOnceAndConcurrentRetriesSendOnce(t *testing.T) {
	cs, _ := ParseConnectionString(ikey)
	dir := t.TempDir()
	s := &Sender{SpoolDir: dir, Timeout: 200 * time.Millisecond}
	down := "http://127.0.0.1:1/v2/track"
	for i := 0; i < 3; i++ {
		s.Publish(context.Background(), down, Envelope(event(1), cs, time.Now()))
	}
	if s.Pending() != 3 {
		t.Fatalf("pending %d", s.Pending())
	}
	before := sumInts(attempts(t, dir))
	if sent, left, err := s.Retry(context.Background()); sent != 0 || left != 3 || err == nil {
		t.Fatalf("retry against a dead endpoint: sent=%d left=%d err=%v", sent, left, err)
	}
	if n := sumInts(attempts(t, dir)) - before; n != 1 {
		t.Fatalf("a dead endpoint should be tried once per retry, tried %d times", n)
	}
	// A spooled event for a live endpoint is not held back by the dead one's.
	in := newIngestion(t, http.StatusInternalServerError) // fails once, then accepts
	if err := s.Publish(context.Background(), in.srv.URL+"/v2/track", Envelope(event(1), cs, time.Now())); err == nil {
		t.Fatal("the first send to the live endpoint should fail (and be spooled)")
	}
	if sent, left, _ := s.Retry(context.Background()); sent != 1 || left != 3 || in.count() != 1 {
		t.Fatalf("retry: sent=%d left=%d delivered=%d, want the live endpoint's event sent and the dead one's 3 left", sent, left, in.count())
	}
	rewriteSpool(t, dir, down, in.srv.URL+"/v2/track")
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); (&Sender{SpoolDir: dir, Timeout: time.Second}).Retry(context.Background()) }()
	}
	wg.Wait()
	if in.count() != 4 || s.Pending() != 0 {
		t.Fatalf("the live endpoint got %d events (want 1 + the 3 spooled), %d left", in.count(), s.Pending())
	}
}

// attempts returns the Attempts of the spooled events, by file name.
func attempts(t *testing.T, dir string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(files)
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var sp spooled
		if err := json.Unmarshal(b, &sp); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, sp.Attempts)
	}
	return out
}

func sumInts(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

// BenchmarkEnvelope measures building the event of a scan with 3,000 findings.
func BenchmarkEnvelope(b *testing.B) {
	cs, _ := ParseConnectionString(ikey)
	ev := event(3000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Envelope(ev, cs, time.Now())
	}
}

// TestEnvelopeCarriesPullRequestContext: a pull request's number, source branch, head
// and merge commits reach the workflow's additionalData and the ci.* properties, next to
// the two keys Azure's action sent; a push adds no empty keys.
func TestEnvelopeCarriesPullRequestContext(t *testing.T) {
	cs, _ := ParseConnectionString(ikey)
	ev := event(1)
	ev.CI = ci.Context{Provider: "Azure Pipelines", Ref: "refs/pull/42/merge", Branch: "feature/login-fix", PullRequest: "42",
		CommitSHA: "9a8b", HeadSHA: "3f2c", MergeSHA: "9a8b"}
	props := Envelope(ev, cs, time.Unix(0, 0)).Data.(*contracts.Data).BaseData.(*contracts.EventData).Properties
	var wf struct {
		AdditionalData map[string]string `json:"additionalData"`
	}
	if err := json.Unmarshal([]byte(props["workflow"]), &wf); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"GITHUB_REF": "refs/pull/42/merge", "GITHUB_SHA": "9a8b", "BRANCH": "feature/login-fix",
		"PULL_REQUEST": "42", "HEAD_SHA": "3f2c", "MERGE_SHA": "9a8b"}
	if fmt.Sprint(wf.AdditionalData) != fmt.Sprint(want) {
		t.Errorf("additionalData = %v, want %v", wf.AdditionalData, want)
	}
	for k, v := range map[string]string{"ci.pull_request": "42", "ci.head_sha": "3f2c", "ci.merge_sha": "9a8b", "ci.branch": "feature/login-fix"} {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	ev.CI = ci.Context{Provider: "GitHub Actions", Ref: "refs/heads/main", CommitSHA: "s"}
	props = Envelope(ev, cs, time.Unix(0, 0)).Data.(*contracts.Data).BaseData.(*contracts.EventData).Properties
	wf.AdditionalData = nil
	json.Unmarshal([]byte(props["workflow"]), &wf)
	if len(wf.AdditionalData) != 2 {
		t.Errorf("a push: additionalData = %v, want GITHUB_REF and GITHUB_SHA only", wf.AdditionalData)
	}
}
