package nova

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// fakeKeystone answers POST /v3/auth/tokens: the first `accept` logins get a token, the
// others `refuse` (an HTTP code) with Keystone's error body.
func fakeKeystone(t *testing.T, accept int32, refuse int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if logins.Add(1) <= accept {
			w.Header().Set("X-Subject-Token", "tok-1")
			writeJSON(w, http.StatusCreated, map[string]any{"token": map[string]any{
				"expires_at": "2999-01-01T00:00:00.000000Z", "catalog": []any{},
				"user": map[string]any{"id": "u1", "name": "demo"}}})
			return
		}
		writeJSON(w, refuse, map[string]any{"error": map[string]any{"code": refuse,
			"message": "The request you have made requires authentication.", "title": http.StatusText(refuse)}})
	}))
	t.Cleanup(srv.Close)
	return srv, &logins
}

// TestAuthRefusedIsErrAuth: Keystone refusing the credentials (401, 403) at login or at a
// token renewal, and Nova refusing a token, wrap rescue.ErrAuth with the message unchanged;
// other failures do not.
func TestAuthRefusedIsErrAuth(t *testing.T) {
	clearEnv(t)
	for _, code := range []int{401, 403} {
		ks, _ := fakeKeystone(t, 0, code)
		_, err := New(context.Background(), Config{AuthURL: ks.URL + "/v3", UserName: "demo", Password: "Wr0ngPass",
			TenantName: "demo", EndpointOverrides: map[string]string{"compute": "http://127.0.0.1:1"}})
		want := fmt.Sprintf(`authenticate at %s/v3 as user "demo": Keystone answered HTTP %d`, ks.URL, code)
		if !errors.Is(err, rescue.ErrAuth) || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "requires authentication") || strings.Contains(err.Error(), "Wr0ngPass") ||
			strings.Contains(err.Error(), rescue.ErrAuth.Error()) {
			t.Fatalf("Keystone %d: %v", code, err)
		}
		_, err = New(context.Background(), Config{AuthURL: ks.URL + "/v3", ApplicationCredentialID: "ac1",
			ApplicationCredentialSecret: "s3cret", EndpointOverrides: map[string]string{"compute": "http://127.0.0.1:1"}})
		if !errors.Is(err, rescue.ErrAuth) || !strings.Contains(err.Error(), "application credential ac1") {
			t.Fatalf("application credential, Keystone %d: %v", code, err)
		}
	}
	ks, _ := fakeKeystone(t, 0, http.StatusInternalServerError)
	_, err := New(context.Background(), Config{AuthURL: ks.URL + "/v3", UserName: "demo", Password: "x",
		EndpointOverrides: map[string]string{"compute": "http://127.0.0.1:1"}})
	if err == nil || errors.Is(err, rescue.ErrAuth) {
		t.Fatalf("Keystone 500: %v", err)
	}

	// Nova refuses the token: 401 is ErrAuth, 403 (policy) is not.
	f := newFakeNova(t)
	b := f.backend(t, 0)
	f.set(func(f *fakeNova) { f.getCode = http.StatusUnauthorized })
	if _, err := b.Get(context.Background(), fakeServerID); !errors.Is(err, rescue.ErrAuth) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("Nova 401: %v", err)
	}
	f.set(func(f *fakeNova) { f.getCode = http.StatusForbidden })
	if _, err := b.Get(context.Background(), fakeServerID); err == nil || errors.Is(err, rescue.ErrAuth) {
		t.Fatalf("Nova 403: %v", err)
	}
	if err := actionError("rescue", fakeServerID, httpErr(401, `{"error": {"message": "Unauthorized"}}`)); !errors.Is(err, rescue.ErrAuth) ||
		rescue.Accepted(err) {
		t.Fatalf("rescue 401: %v", err)
	}

	// The token expires, Nova says 401, and Keystone refuses the renewal.
	ks, logins := fakeKeystone(t, 1, http.StatusUnauthorized)
	f = newFakeNova(t)
	f.set(func(f *fakeNova) {
		f.getCode = http.StatusUnauthorized
		f.action = `401 {"error": {"message": "Unauthorized"}}`
	})
	zero := 0
	b, err = New(context.Background(), Config{AuthURL: ks.URL + "/v3", UserName: "demo", Password: "changed",
		TenantName: "demo", MaxRetries: &zero,
		EndpointOverrides: map[string]string{"compute": f.srv.URL + "/v2.1", "image": f.srv.URL + "/image"}})
	if err != nil {
		t.Fatal(err)
	}
	b.mv = &negotiated{min: microversion{2, 1}, max: microversion{2, 90}, use: "2.87"}
	if _, err := b.Get(context.Background(), fakeServerID); !errors.Is(err, rescue.ErrAuth) || logins.Load() != 2 {
		t.Fatalf("refused renewal (%d logins): %v", logins.Load(), err)
	}
}
