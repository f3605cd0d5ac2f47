package nova

import (
	"strings"
	"testing"
)

func TestStateProblem(t *testing.T) {
	const id = "8c1e0f4a-3b0c-4d4e-9a55-0a3a3c1d2e11"
	for _, ok := range []string{"ACTIVE", "SHUTOFF", "ERROR", "RESCUE"} {
		if p := stateProblem(id, ok); p != "" {
			t.Errorf("%s: %q", ok, p)
		}
	}
	for status, fix := range map[string]string{
		"PAUSED":            "openstack server unpause " + id,
		"SUSPENDED":         "openstack server resume " + id,
		"SHELVED":           "openstack server unshelve " + id,
		"SHELVED_OFFLOADED": "openstack server unshelve " + id,
		"SOFT_DELETED":      "openstack server restore " + id,
		"VERIFY_RESIZE":     "resize confirm",
		"BUILD":             "wait until it is ACTIVE or SHUTOFF",
		"MIGRATING":         "wait until it is ACTIVE or SHUTOFF",
		"UNKNOWN":           "cannot tell its state",
		"SOMETHING_NEW":     "bring it to ACTIVE or SHUTOFF",
	} {
		p := stateProblem(id, status)
		if !strings.Contains(p, "is "+status+",") || !strings.Contains(p, fix) || !strings.Contains(p, "ACTIVE, SHUTOFF or ERROR") {
			t.Errorf("%s: %q", status, p)
		}
	}
}

func TestLockProblem(t *testing.T) {
	const id = "8c1e0f4a-3b0c-4d4e-9a55-0a3a3c1d2e11"
	locked := lockState{Locked: true, Reason: "forensics"}
	for _, c := range []struct {
		name            string
		ls              lockState
		roles           []string
		known           bool
		problem, warned string
	}{
		{"not locked", lockState{}, []string{"member"}, true, "", ""},
		{"member", locked, []string{"member", "reader"}, true, `locked (reason: "forensics")`, ""},
		{"member, no reason", lockState{Locked: true}, []string{"member"}, true, "openstack server unlock " + id, ""},
		{"admin", locked, []string{"member", "admin"}, true, "", "admin role"},
		{"roles unknown", locked, nil, false, "", "cannot be told"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, w := lockProblem(id, c.ls, c.roles, c.known)
			if (c.problem == "") != (p == "") || !strings.Contains(p, c.problem) {
				t.Errorf("problem %q, want %q", p, c.problem)
			}
			if (c.warned == "") != (w == "") || !strings.Contains(w, c.warned) {
				t.Errorf("warning %q, want %q", w, c.warned)
			}
		})
	}
}

func TestFormatProblem(t *testing.T) {
	const img = "f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001"
	for _, c := range []struct {
		device, disk, container string
		want                    string // "" fits
	}{
		{"cdrom", "iso", "bare", ""},
		{"cdrom", "raw", "bare", ""}, // an ISO stored as raw: cannot be told
		{"cdrom", "qcow2", "bare", "disk_format qcow2 (a disk image)"},
		{"cdrom", "vmdk", "bare", "hw_rescue_device=disk"},
		{"disk", "qcow2", "bare", ""},
		{"disk", "iso", "bare", ""}, // hybrid ISOs boot as disks
		{"", "qcow2", "bare", ""},
		{"", "aki", "aki", "kernel or ramdisk"},
		{"disk", "raw", "ari", "kernel or ramdisk"},
	} {
		err := formatProblem(img, c.device, imageProperties{diskFormat: c.disk, containerFormat: c.container})
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %s/%s: %v, want %q", c.device, c.disk, c.container, err, c.want)
		}
	}
}
