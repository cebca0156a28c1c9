package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/microsoft/ApplicationInsights-Go/appinsights/contracts"
	"github.com/moby/sys/atomicwriter"

	"github.com/docker-secscan/docker-secscan/internal/filelock"
)

// Sender posts envelopes and keeps what it could not deliver in SpoolDir.
type Sender struct {
	// SpoolDir holds undelivered events, one JSON file each (mode 0600: the file holds
	// the endpoint and possibly a token).
	SpoolDir string
	// Timeout bounds one delivery attempt (connect, send, answer).
	Timeout time.Duration
	// Client is the HTTP client (default: http.DefaultClient's transport).
	Client *http.Client
}

// spooled is one undelivered event on disk.
type spooled struct {
	TrackURL string              `json:"trackUrl"`
	Envelope *contracts.Envelope `json:"envelope"`
	Attempts int                 `json:"attempts"`
	Spooled  time.Time           `json:"spooled"`
	LastErr  string              `json:"lastError"`
}

// trackResponse is the ingestion service's answer (Breeze /v2/track).
type trackResponse struct {
	ItemsReceived int `json:"itemsReceived"`
	ItemsAccepted int `json:"itemsAccepted"`
	Errors        []struct {
		Index      int    `json:"index"`
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	} `json:"errors"`
}

// MaxAttempts is how often a spooled event is sent before it is set aside in
// SpoolDir/failed (kept, not sent again automatically).
const MaxAttempts = 20

// lock serialises spool users (runs sharing a cache), so that no event is sent twice
// by two runs at once.
func (s *Sender) lock() (func(), error) {
	if err := os.MkdirAll(s.SpoolDir, 0o700); err != nil {
		return nil, err
	}
	return filelock.Lock(filepath.Join(s.SpoolDir, ".lock"), nil)
}

// Publish delivers the envelope to trackURL; when that fails it spools the envelope and
// returns the delivery error (the event is not lost). A spool failure is returned too.
// Delivery is at least once: a service that processed an event but whose answer never
// arrived gets it again; envelopes carry the scan's request ID (ai.operation.id and the
// context's requestId) for de-duplication.
func (s *Sender) Publish(ctx context.Context, trackURL string, env *contracts.Envelope) error {
	err := s.post(ctx, trackURL, env)
	if err == nil {
		return nil
	}
	if serr := s.spool(spooled{TrackURL: trackURL, Envelope: env, Attempts: 1, Spooled: time.Now().UTC(), LastErr: err.Error()}, ""); serr != nil {
		return fmt.Errorf("%v, and it could not be kept for a later retry: %v", err, serr)
	}
	return fmt.Errorf("%v (kept in %s; it is sent again by the next run or 'docker secscan publish --retry')", err, s.SpoolDir)
}

// Retry sends every spooled event again, oldest first, deleting each one only once the
// service accepted it. After a failure, the other events for the same endpoint wait for
// the next run (it is likely still down: one timeout per endpoint, not per event);
// events for other endpoints are still sent. An event that failed MaxAttempts times is
// moved to SpoolDir/failed. It returns how many were sent and how many are still
// spooled.
func (s *Sender) Retry(ctx context.Context) (sent, left int, err error) {
	unlock, lerr := s.lock()
	if lerr != nil {
		return 0, s.Pending(), lerr
	}
	defer unlock()
	files, _ := filepath.Glob(filepath.Join(s.SpoolDir, "*.json"))
	sort.Strings(files)
	var errs []string
	down := map[string]bool{} // endpoints that failed in this run: later events wait
	for _, f := range files {
		b, rerr := os.ReadFile(f)
		if rerr != nil {
			left++
			continue
		}
		var sp spooled
		if json.Unmarshal(b, &sp) != nil || sp.Envelope == nil {
			// Not ours or damaged: keep it aside rather than loop on it.
			_ = os.Rename(f, f+".bad")
			errs = append(errs, filepath.Base(f)+" is unreadable, renamed to .bad")
			continue
		}
		if down[sp.TrackURL] {
			left++ // its endpoint just failed: not tried again in this run
			continue
		}
		if perr := s.post(ctx, sp.TrackURL, sp.Envelope); perr != nil {
			down[sp.TrackURL] = true
			sp.Attempts++
			sp.LastErr = perr.Error()
			if sp.Attempts >= MaxAttempts {
				dead := filepath.Join(s.SpoolDir, "failed")
				_ = os.MkdirAll(dead, 0o700)
				_ = s.spool(sp, f)
				_ = os.Rename(f, filepath.Join(dead, filepath.Base(f)))
				errs = append(errs, fmt.Sprintf("%s failed %d times and was moved to %s", filepath.Base(f), sp.Attempts, dead))
			} else {
				_ = s.spool(sp, f)
				left++
			}
			errs = append(errs, perr.Error())
			continue
		}
		if rerr := os.Remove(f); rerr != nil {
			errs = append(errs, rerr.Error())
		}
		sent++
	}
	if len(errs) > 0 {
		err = errors.New(strings.Join(errs, "; "))
	}
	return sent, left, err
}

// Pending counts the spooled events.
func (s *Sender) Pending() int {
	files, _ := filepath.Glob(filepath.Join(s.SpoolDir, "*.json"))
	return len(files)
}

func (s *Sender) post(ctx context.Context, trackURL string, env *contracts.Envelope) error {
	body, err := json.Marshal([]*contracts.Envelope{env})
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, trackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := s.Client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("Application Insights did not answer within %s", timeout)
		}
		return fmt.Errorf("cannot reach Application Insights: %v", redactURL(err, trackURL))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("Application Insights answered %s", resp.Status)
	}
	// Only the service's own acknowledgement counts: a 200 from a proxy's login page is
	// not a delivery.
	var tr trackResponse
	if err := json.Unmarshal(b, &tr); err != nil || tr.ItemsReceived < 1 {
		return fmt.Errorf("the endpoint answered 200 without Application Insights' acknowledgement (a proxy or a wrong IngestionEndpoint?)")
	}
	if tr.ItemsAccepted < tr.ItemsReceived {
		msg := "rejected"
		if len(tr.Errors) > 0 {
			msg = tr.Errors[0].Message
		}
		return fmt.Errorf("Application Insights accepted %d of %d items: %s", tr.ItemsAccepted, tr.ItemsReceived, msg)
	}
	return nil
}

func (s *Sender) spool(sp spooled, path string) error {
	if err := os.MkdirAll(s.SpoolDir, 0o700); err != nil {
		return err
	}
	if path == "" {
		unlock, err := s.lock()
		if err != nil {
			return err
		}
		defer unlock()
		var r [6]byte
		_, _ = rand.Read(r[:])
		path = filepath.Join(s.SpoolDir, fmt.Sprintf("%s-%s.json", sp.Spooled.Format("20060102T150405.000000000Z"), hex.EncodeToString(r[:])))
	}
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	return atomicwriter.WriteFile(path, b, 0o600)
}

// redactURL keeps the error but not the query string of the URL (none is expected,
// but a proxy may add one).
func redactURL(err error, u string) string {
	msg := err.Error()
	if i := strings.Index(u, "?"); i >= 0 {
		msg = strings.ReplaceAll(msg, u[i:], "?…")
	}
	return msg
}
