package nova

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/nova/oprecord"
)

// fakeServerID and fakeImageID are the one server and image of fakeNova.
const (
	fakeServerID = "11111111-2222-4333-8444-555555555555"
	fakeImageID  = "66666666-7777-4888-9999-000000000000"
)

// fakeNova is a scripted stand-in for the compute and image APIs, for the pure logic that
// decides what an answer (or its absence) means. Integration tests use the real Nova.
type fakeNova struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// statuses are the server's status/task_state ("ACTIVE", "ACTIVE/rescuing") for the
	// successive GETs; the last one repeats.
	statuses []string
	gets     int
	// getCode, when not 0, answers every GET /servers/{id} with it.
	getCode int
	// action answers POST .../action: "drop" closes the connection without an answer,
	// "drop-fail-gets" does that and answers every later GET of the server with 500,
	// otherwise it is "<code> <body>".
	action  string
	posts   int
	bodies  []string
	handler func(w http.ResponseWriter, r *http.Request) bool // extra routes, true when handled
}

func newFakeNova(t *testing.T) *fakeNova {
	t.Helper()
	f := &fakeNova{t: t, statuses: []string{"ACTIVE"}, action: "202 "}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNova) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	h := f.handler
	f.mu.Unlock()
	if h != nil && h(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/image/v2/images/"+fakeImageID:
		writeJSON(w, 200, map[string]any{"id": fakeImageID, "name": "plain", "status": "active"})
	case r.Method == http.MethodGet && r.URL.Path == "/v2.1/servers/"+fakeServerID:
		f.mu.Lock()
		i := min(f.gets, len(f.statuses)-1)
		f.gets++
		st, code := f.statuses[i], f.getCode
		f.mu.Unlock()
		if code != 0 {
			writeJSON(w, code, map[string]any{"computeFault": map[string]any{"code": code, "message": "boom"}})
			return
		}
		status, task, _ := strings.Cut(st, "/")
		var taskState any
		if task != "" {
			taskState = task
		}
		writeJSON(w, 200, map[string]any{"server": map[string]any{
			"id": fakeServerID, "name": "web", "status": status, "OS-EXT-STS:task_state": taskState,
			"image": map[string]any{"id": fakeImageID},
		}})
	case r.Method == http.MethodPost && r.URL.Path == "/v2.1/servers/"+fakeServerID+"/action":
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.posts++
		f.bodies = append(f.bodies, string(body))
		action := f.action
		f.mu.Unlock()
		if action == "drop-fail-gets" {
			f.mu.Lock()
			f.getCode = http.StatusInternalServerError
			f.mu.Unlock()
		}
		if strings.HasPrefix(action, "drop") {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				f.t.Errorf("hijack: %v", err)
				return
			}
			_ = conn.Close()
			return
		}
		var code int
		var rest string
		if _, err := fmt.Sscanf(action, "%d", &code); err != nil {
			f.t.Errorf("bad action %q", action)
			return
		}
		_, rest, _ = strings.Cut(action, " ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, rest)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeNova) set(fn func(f *fakeNova)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeNova) counts() (gets, posts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets, f.posts
}

// clearEnv empties the OS_* variables New reads.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_AUTH_TOKEN", "OS_PASSWORD", "OS_USERNAME",
		"OS_USER_ID", "OS_PROJECT_NAME", "OS_TENANT_NAME", "OS_PROJECT_ID", "OS_TENANT_ID", "OS_REGION_NAME",
		"OS_CACERT", "OS_CERT", "OS_KEY", "OS_INSECURE", "OS_MAX_RETRIES", "OS_ENDPOINT_TYPE", "OS_INTERFACE",
		"OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID",
		"OS_DOMAIN_NAME", "OS_DOMAIN_ID", "OS_DEFAULT_DOMAIN", "OS_APPLICATION_CREDENTIAL_ID",
		"OS_APPLICATION_CREDENTIAL_NAME", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_ALLOW_REAUTH",
		"OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
}

// backend returns a Backend on the fake (no Keystone, microversion 2.87 without asking),
// with retries as given and short confirmation pacing.
func (f *fakeNova) backend(t *testing.T, retries int) *Backend {
	t.Helper()
	clearEnv(t)
	// Each fake backend keeps its operation records apart (the fake's server id is the same).
	t.Setenv(oprecord.EnvDir, t.TempDir())
	b, err := New(context.Background(), Config{Token: "admin:admin", MaxRetries: &retries,
		EndpointOverrides: map[string]string{"compute": f.srv.URL + "/v2.1", "image": f.srv.URL + "/image"}})
	if err != nil {
		t.Fatal(err)
	}
	b.mv = &negotiated{min: microversion{2, 1}, max: microversion{2, 90}, use: "2.87"}
	b.confirmWindow, b.confirmEvery = 400*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { _ = b.Close() })
	return b
}
