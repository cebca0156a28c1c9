package plugin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker-secscan/docker-secscan/internal/engine"
)

// TestDBMirrorMessages: a DEST that names a digest is refused before anything is read;
// a source that wants a login says to run docker login, without the registry's error
// details ("[map[Action:pull ...]]").
func TestDBMirrorMessages(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"private/trivy-db","Action":"pull"}]}]}`)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	_, _, err := mirrorDB(context.Background(), []string{host + "/private/trivy-db"}, "db-repository", "127.0.0.1:1/mirror", engine.DBSchemaVersion, dbLayerMediaType, true)
	if err == nil || !strings.Contains(err.Error(), "run 'docker login "+host+"'") || strings.Contains(err.Error(), "map[") {
		t.Errorf("a source that wants a login: %v", err)
	}
	_, _, err = mirrorDB(context.Background(), []string{host + "/private/trivy-db"}, "db-repository", "127.0.0.1:1/mirror@sha256:"+strings.Repeat("a", 64), engine.DBSchemaVersion, dbLayerMediaType, true)
	if err == nil || !strings.Contains(err.Error(), "names a digest") {
		t.Errorf("a DEST with a digest: %v", err)
	}
}
