package nova

import (
	"errors"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func httpErr(code int, body string) error {
	return gophercloud.ErrUnexpectedResponseCode{Actual: code, Body: []byte(body), Method: "POST", URL: "http://nova/x"}
}

func TestServerMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"conflictingRequest": {"code": 409, "message": "Cannot 'rescue' instance x while it is in vm_state rescued"}}`:     "Cannot 'rescue' instance x while it is in vm_state rescued",
		`{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}`:                                       "Instance x could not be found.",
		`{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}`: "The request you have made requires authentication.",
		`{"message": "plain"}`:                                  "plain",
		"404 Not Found\n\nThe resource could not be found.\n\n": "404 Not Found The resource could not be found.",
		"": "",
	} {
		if got := serverMessage([]byte(body)); got != want {
			t.Errorf("serverMessage(%q) = %q, want %q", body, got, want)
		}
	}
	long := strings.Repeat("x", 2*maxMessage)
	if got := serverMessage([]byte(long)); len(got) > maxMessage+3 {
		t.Errorf("long body not bounded: %d", len(got))
	}
}

func TestActionError(t *testing.T) {
	id := "11111111-2222-3333-4444-555555555555"
	var nf *rescue.NotFoundError
	err := actionError("rescue", id, httpErr(404, `{"itemNotFound": {"code": 404, "message": "Instance `+id+` could not be found."}}`))
	if !errors.As(err, &nf) || nf.ID != id || nf.What != "instance" || nf.Msg != "Instance "+id+" could not be found." {
		t.Fatalf("404: %v", err)
	}
	var conflict *rescue.ConflictError
	err = actionError("unrescue", id, httpErr(409, `{"conflictingRequest": {"code": 409, "message": "Instance `+id+` is locked"}}`))
	if !errors.As(err, &conflict) || conflict.Msg != "Instance "+id+" is locked" {
		t.Fatalf("409: %v", err)
	}
	var un *rescue.UnsupportedError
	for _, m := range []string{
		"Instance " + id + " cannot be rescued: Cannot rescue a volume-backed instance",
		"Instance " + id + " cannot be rescued: Host unable to rescue a volume-backed instance",
	} {
		err = actionError("rescue", id, httpErr(400, `{"badRequest": {"code": 400, "message": "`+m+`"}}`))
		if !errors.As(err, &un) || un.Msg != m {
			t.Fatalf("400 %q: %v", m, err)
		}
	}
	var inv *rescue.InvalidError
	for m, attr := range map[string]string{
		"Requested rescue image '" + id + "' is not supported":                                                 "image_id",
		"Invalid input for field/attribute rescue_image_ref. Value: x. 'x' is not a 'uuid'":                    "image_id",
		"Invalid input for field/attribute rescue. Value: {'bogus': 1}. Additional properties are not allowed": "",
	} {
		err = actionError("rescue", id, httpErr(400, `{"badRequest": {"code": 400, "message": "`+m+`"}}`))
		if !errors.As(err, &inv) || inv.Msg != m || inv.Attribute != attr {
			t.Fatalf("400 %q: %v", m, err)
		}
	}
	err = actionError("rescue", id, httpErr(403, `{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-rescue to be performed."}}`))
	if !strings.Contains(err.Error(), "HTTP 403 Forbidden: Policy doesn't allow os_compute_api:os-rescue to be performed.") {
		t.Fatalf("403: %v", err)
	}
	// Nova's schema errors echo the request body: the admin password never shows.
	err = actionError("rescue", id, httpErr(400, `{"badRequest": {"code": 400, "message": "Invalid input for field/attribute rescue. Value: {'adminPass': 'Sekr1t', 'x': 1}."}}`), "Sekr1t")
	if !errors.As(err, &inv) || strings.Contains(err.Error(), "Sekr1t") || !strings.Contains(inv.Msg, "'adminPass': '***'") {
		t.Fatalf("secret in 400: %v", err)
	}
	err = actionError("rescue", id, httpErr(418, "teapot Sekr1t"), "Sekr1t")
	if strings.Contains(err.Error(), "Sekr1t") {
		t.Fatalf("secret in other status: %v", err)
	}
	netErr := errors.New("connection reset by peer")
	if err := actionError("rescue", id, netErr); !errors.Is(err, netErr) {
		t.Fatalf("network error not wrapped: %v", err)
	}
}

func TestAmbiguous(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("read: connection reset by peer"), true},
		{httpErr(500, "boom"), true},
		{httpErr(502, "bad gateway"), true},
		{httpErr(504, "gateway timeout"), true},
		{httpErr(400, "bad"), false},
		{httpErr(409, "conflict"), false},
		{httpErr(404, "missing"), false},
	} {
		if got := ambiguous(c.err); got != c.want {
			t.Errorf("ambiguous(%v) = %v", c.err, got)
		}
	}
}
