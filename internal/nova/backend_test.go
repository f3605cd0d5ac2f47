package nova

import (
	"errors"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

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
