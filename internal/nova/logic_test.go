package nova

import (
	"errors"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestInstanceOf(t *testing.T) {
	for _, c := range []struct {
		status, task string
		fault        servers.Fault
		state        rescue.State
		word, reason string
	}{
		{"ACTIVE", "", servers.Fault{}, rescue.StateActive, "ACTIVE", ""},
		{"ACTIVE", "rescuing", servers.Fault{}, rescue.StateRescuing, "ACTIVE/rescuing", ""},
		{"SHUTOFF", "rescuing", servers.Fault{}, rescue.StateRescuing, "SHUTOFF/rescuing", ""},
		{"ERROR", "rescuing", servers.Fault{}, rescue.StateRescuing, "ERROR/rescuing", ""},
		{"RESCUE", "", servers.Fault{}, rescue.StateRescued, "RESCUE", ""},
		{"RESCUE", "unrescuing", servers.Fault{}, rescue.StateUnrescuing, "RESCUE/unrescuing", ""},
		{"SHUTOFF", "", servers.Fault{}, rescue.StateStopped, "SHUTOFF", ""},
		{"ACTIVE", "powering-off", servers.Fault{}, rescue.StateActive, "ACTIVE/powering-off", ""},
		{"PAUSED", "", servers.Fault{}, rescue.StateOther, "PAUSED", ""},
		{"BUILD", "spawning", servers.Fault{}, rescue.StateOther, "BUILD/spawning", ""},
		{"ERROR", "", servers.Fault{Code: 400, Message: "Instance x cannot be rescued: Driver Error: boom"},
			rescue.StateError, "ERROR", "Instance x cannot be rescued: Driver Error: boom (code 400)"},
		{"ERROR", "", servers.Fault{Code: 500, Message: "RuntimeError"}, rescue.StateError, "ERROR", "RuntimeError (code 500)"},
		{"ERROR", "", servers.Fault{}, rescue.StateError, "ERROR", "the server is in ERROR and Nova reports no fault"},
	} {
		s := &servers.Server{ID: "id1", Name: "web", Status: c.status, TaskState: c.task, Fault: c.fault}
		got := instanceOf(s)
		if got.State != c.state || got.Status != c.word || got.Fault != c.reason || got.ID != "id1" || got.Name != "web" {
			t.Errorf("%s/%s: got %+v, want %s %q %q", c.status, c.task, got, c.state, c.word, c.reason)
		}
	}
}

func TestServerImageID(t *testing.T) {
	if got := serverImageID(&servers.Server{Image: map[string]any{"id": "img"}}); got != "img" {
		t.Fatalf("image-backed: %q", got)
	}
	if got := serverImageID(&servers.Server{}); got != "" {
		t.Fatalf("volume-backed: %q", got)
	}
}

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

func TestChooseMicroversion(t *testing.T) {
	mv := func(s string) microversion {
		v, err := parseMicroversion(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ min, max, want string }{
		{"2.1", "2.93", "2.87"},
		{"2.1", "2.87", "2.87"},
		{"2.1", "2.86", "2.1"},
		{"2.1", "2.60", "2.1"},
		{"2.1", "2.1", "2.1"},
		{"2.0", "2.0", ""},
		{"2.90", "2.95", ""},
	} {
		if got := chooseMicroversion(mv(c.min), mv(c.max)); got != c.want {
			t.Errorf("choose(%s..%s) = %q, want %q", c.min, c.max, got, c.want)
		}
	}
	n := negotiated{min: mv("2.1"), max: mv("2.86"), use: "2.1"}
	if n.supports("2.87") || !n.supports("2.86") || !n.supports("2.1") || n.supports("x") {
		t.Fatal("supports")
	}
	for _, bad := range []string{"", "2", "a.b", "2.-1"} {
		if _, err := parseMicroversion(bad); err == nil {
			t.Errorf("parseMicroversion(%q) accepted", bad)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		p, err := GeneratePassword(PasswordLength)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != PasswordLength || strings.Trim(p, passwordAlphabet) != "" {
			t.Fatalf("password %q", p)
		}
		if !strings.ContainsAny(p, "ABCDEFGHJKLMNPQRSTUVWXYZ") || !strings.ContainsAny(p, "abcdefghijkmnopqrstuvwxyz") ||
			!strings.ContainsAny(p, "23456789") {
			t.Fatalf("password %q lacks a character class", p)
		}
		if seen[p] {
			t.Fatalf("password %q repeated", p)
		}
		seen[p] = true
	}
	if _, err := GeneratePassword(2); err == nil {
		t.Fatal("length 2 accepted")
	}
}

func TestCheckRequest(t *testing.T) {
	id := "8c1e0b8a-7d2b-4c5e-9b3a-2a8f4d1c0001"
	for _, c := range []struct {
		req  rescue.Request
		attr string
	}{
		{rescue.Request{}, ""},
		{rescue.Request{InstanceID: id, ImageID: strings.ToUpper(id), Device: "cdrom", Bus: "scsi"}, ""},
		{rescue.Request{InstanceID: "web"}, "instance_id"},
		{rescue.Request{InstanceID: id + "0"}, "instance_id"},
		{rescue.Request{ImageID: "ubuntu"}, "image_id"},
		{rescue.Request{Device: "usb"}, "device"},
		{rescue.Request{Bus: "nvme"}, "bus"},
		{rescue.Request{ShutdownTimeout: 1}, "shutdown_timeout"},
	} {
		err := checkRequest(c.req)
		var inv *rescue.InvalidError
		switch {
		case c.attr == "" && err != nil:
			t.Errorf("%+v: %v", c.req, err)
		case c.attr != "" && (!errors.As(err, &inv) || inv.Attribute != c.attr):
			t.Errorf("%+v: %v, want invalid %s", c.req, err, c.attr)
		}
	}
	err := checkRequest(rescue.Request{ShutdownTimeout: 1})
	if !strings.Contains(err.Error(), "nova.conf") || !strings.Contains(err.Error(), "os_shutdown_timeout") {
		t.Errorf("shutdown_timeout message: %v", err)
	}
}

func TestResolve(t *testing.T) {
	img := "f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001"
	both := imageProperties{device: "cdrom", bus: "scsi"}
	for _, c := range []struct {
		req        rescue.Request
		props      imageProperties
		plan       rescue.Plan
		attr       string
		msgContain []string
	}{
		{rescue.Request{}, imageProperties{}, rescue.Plan{Mode: rescue.ModeLegacy}, "", nil},
		{rescue.Request{}, both, rescue.Plan{Device: "cdrom", Bus: "scsi", Mode: rescue.ModeStable}, "", nil},
		{rescue.Request{}, imageProperties{bus: "usb"}, rescue.Plan{Bus: "usb", Mode: rescue.ModeStable}, "", nil},
		{rescue.Request{Device: "cdrom", Bus: "scsi"}, both, rescue.Plan{Device: "cdrom", Bus: "scsi", Mode: rescue.ModeStable}, "", nil},
		{rescue.Request{Device: "cdrom"}, both, rescue.Plan{Device: "cdrom", Bus: "scsi", Mode: rescue.ModeStable}, "", nil},
		{rescue.Request{Device: "disk"}, both, rescue.Plan{}, "device",
			[]string{"hw_rescue_device=cdrom, not disk", "`openstack image set --property hw_rescue_device=disk " + img + "`", `device = "cdrom"`}},
		{rescue.Request{Bus: "virtio"}, both, rescue.Plan{}, "bus",
			[]string{"hw_rescue_bus=scsi, not virtio", "`openstack image set --property hw_rescue_bus=virtio " + img + "`"}},
		{rescue.Request{Device: "cdrom"}, imageProperties{}, rescue.Plan{}, "device",
			[]string{"no hw_rescue_device", "openstack image set --property hw_rescue_device=cdrom " + img}},
		{rescue.Request{Bus: "ide"}, imageProperties{device: "cdrom"}, rescue.Plan{}, "bus",
			[]string{"no hw_rescue_bus", "openstack image set --property hw_rescue_bus=ide " + img}},
	} {
		plan, err := resolve(c.req, img, c.props)
		if c.attr == "" {
			if err != nil || plan.Device != c.plan.Device || plan.Bus != c.plan.Bus || plan.Mode != c.plan.Mode {
				t.Errorf("%+v %+v: %+v %v, want %+v", c.req, c.props, plan, err, c.plan)
			}
			continue
		}
		var inv *rescue.InvalidError
		if !errors.As(err, &inv) || inv.Attribute != c.attr {
			t.Errorf("%+v %+v: %v, want invalid %s", c.req, c.props, err, c.attr)
			continue
		}
		for _, m := range c.msgContain {
			if !strings.Contains(inv.Msg, m) {
				t.Errorf("%+v: message %q lacks %q", c.req, inv.Msg, m)
			}
		}
	}
}

func TestPropertiesOf(t *testing.T) {
	p := propertiesOf(&images.Image{Properties: map[string]any{"hw_rescue_device": "disk", "hw_rescue_bus": nil, "other": 1}})
	if p.device != "disk" || p.bus != "" {
		t.Fatalf("%+v", p)
	}
}

func TestActionReason(t *testing.T) {
	type ev = struct {
		Event     string `json:"event"`
		Result    string `json:"result"`
		Details   string `json:"details"`
		Traceback string `json:"traceback"`
	}
	for name, c := range map[string]struct {
		d    actionDetail
		want string
	}{
		"success":     {actionDetail{Action: "rescue", RequestID: "req-1", Events: []ev{{Event: "compute_rescue_instance", Result: "Success"}}}, ""},
		"in progress": {actionDetail{Action: "rescue", RequestID: "req-1", Events: []ev{{Event: "compute_rescue_instance"}}}, ""},
		"details": {actionDetail{Action: "rescue", RequestID: "req-2", Message: "Error", Events: []ev{{Event: "compute_rescue_instance",
			Result: "Error", Details: "Image x could not be found.", Traceback: "Traceback...\nnova.exception.ImageNotFound: Image x could not be found.\n"}}},
			"Nova's rescue (request req-2) failed: compute_rescue_instance: Image x could not be found."},
		"traceback only": {actionDetail{Action: "unrescue", RequestID: "req-3", Events: []ev{{Event: "compute_unrescue_instance",
			Result: "Error", Traceback: "Traceback (most recent call last):\n  File x\nRuntimeError: boom\n\n"}}},
			"Nova's unrescue (request req-3) failed: compute_unrescue_instance: RuntimeError: boom"},
		"no event text": {actionDetail{Action: "rescue", RequestID: "req-4", Events: []ev{{Event: "compute_rescue_instance", Result: "Error"}}},
			"Nova's rescue (request req-4) failed: compute_rescue_instance failed"},
		"message only": {actionDetail{Action: "rescue", RequestID: "req-5", Message: "Error"}, "Nova's rescue (request req-5) failed: Error"},
	} {
		if got := actionReason(c.d); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
