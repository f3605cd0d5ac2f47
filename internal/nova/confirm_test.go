package nova

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// TestRescueAmbiguousAnswer: only a clear 4xx means "not carried out"; after no answer or a
// 5xx the server is watched, and unless it shows the rescue the error wraps ErrAccepted
// with the password, which never shows in the message.
func TestRescueAmbiguousAnswer(t *testing.T) {
	const pass = "GivenRescuePass7"
	for _, c := range []struct {
		name      string
		action    string
		statuses  []string
		getCode   int
		before    string // the server's status when Validate reads it (first GET)
		accepted  bool   // error wraps ErrAccepted
		ok        bool   // no error: Nova started the rescue
		msg       []string
		wantConfl bool
	}{
		{name: "dropped, still ACTIVE", action: "drop", statuses: []string{"ACTIVE"},
			accepted: true, msg: []string{"without a clear answer", "still ACTIVE", "may"}},
		{name: "dropped, rescuing later", action: "drop", statuses: []string{"ACTIVE", "ACTIVE", "ACTIVE", "ACTIVE/rescuing"},
			ok: true},
		{name: "dropped, already RESCUE", action: "drop", statuses: []string{"ACTIVE", "RESCUE"}, ok: true},
		{name: "500 echoing the request, still SHUTOFF", action: `500 {"computeFault": {"code": 500, "message": "adminPass ` + pass + ` boom"}}`,
			statuses: []string{"SHUTOFF"}, accepted: true, msg: []string{"HTTP 500", "still SHUTOFF", "***"}},
		{name: "502, then rescuing", action: "502 bad gateway", statuses: []string{"ACTIVE", "ACTIVE/rescuing"}, ok: true},
		{name: "dropped, ACTIVE then ERROR", action: "drop", statuses: []string{"ACTIVE", "ERROR"}, ok: true},
		{name: "dropped, ERROR before and after", action: "drop", statuses: []string{"ERROR"},
			accepted: true, msg: []string{"still ERROR"}},
		{name: "409 is a clear no", action: `409 {"conflictingRequest": {"code": 409, "message": "Cannot 'rescue'"}}`,
			statuses: []string{"ACTIVE"}, wantConfl: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeNova(t)
			f.set(func(f *fakeNova) { f.action, f.statuses = c.action, c.statuses })
			b := f.backend(t, 0)
			res, err := b.Rescue(context.Background(), rescue.Request{InstanceID: fakeServerID, AdminPass: pass})
			_, posts := f.counts()
			if posts != 1 {
				t.Fatalf("%d POSTs, want 1", posts)
			}
			switch {
			case c.ok:
				if err != nil || res.AdminPass != pass {
					t.Fatalf("got %q, %v; want the password and no error", res.AdminPass, err)
				}
			case c.wantConfl:
				if !rescue.IsConflict(err) || rescue.Accepted(err) || res.AdminPass != "" {
					t.Fatalf("got %q, %v; want a conflict, not accepted", res.AdminPass, err)
				}
			case c.accepted:
				if !rescue.Accepted(err) || res.AdminPass != pass {
					t.Fatalf("got %q, %v; want ErrAccepted with the password", res.AdminPass, err)
				}
				for _, m := range c.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("message %q lacks %q", err, m)
					}
				}
				if strings.Contains(err.Error(), pass) {
					t.Errorf("message %q shows the password", err)
				}
			}
		})
	}
}

// TestRescueAmbiguousUnreadable: no answer to the POST and no way to read the server: the
// rescue may be under way, so the error wraps ErrAccepted and the generated password.
func TestRescueAmbiguousUnreadable(t *testing.T) {
	f := newFakeNova(t)
	f.set(func(f *fakeNova) { f.action = "drop-fail-gets" })
	b := f.backend(t, 0)
	res, err := b.Rescue(context.Background(), rescue.Request{InstanceID: fakeServerID})
	if !rescue.Accepted(err) || len(res.AdminPass) != PasswordLength {
		t.Fatalf("got %d-char password, %v; want ErrAccepted with a generated password", len(res.AdminPass), err)
	}
	if !strings.Contains(err.Error(), "reading the server failed too") || strings.Contains(err.Error(), res.AdminPass) {
		t.Fatalf("message %q", err)
	}
	if gets, _ := f.counts(); gets < 3 {
		t.Fatalf("%d GETs: the server was not watched after the POST", gets)
	}
}

// TestRescueAmbiguousAfterDeadline: the caller's time is up when the POST fails; one read
// still says what the server looks like, and the rescue is reported accepted.
func TestRescueAmbiguousAfterDeadline(t *testing.T) {
	f := newFakeNova(t)
	b := f.backend(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	f.set(func(f *fakeNova) {
		f.handler = func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPost {
				_, _ = io.Copy(io.Discard, r.Body)
				cancel() // the client gives up while Nova works on it
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return true
			}
			return false
		}
	})
	res, err := b.Rescue(ctx, rescue.Request{InstanceID: fakeServerID})
	if !rescue.Accepted(err) || len(res.AdminPass) != PasswordLength || !strings.Contains(err.Error(), "still ACTIVE") {
		t.Fatalf("got %d-char password, %v", len(res.AdminPass), err)
	}
	if !errors.Is(err, rescue.ErrAccepted) {
		t.Fatal(err)
	}
}
