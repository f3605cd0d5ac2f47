package libvirt

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt/socket/dialers"
)

func TestParseTarget(t *testing.T) {
	t.Setenv("HOME", "/home/op")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	cases := []struct {
		uri, transport, remote string
		check                  func(t *testing.T, tg *target)
	}{
		{"qemu:///system", "unix", "qemu:///system", func(t *testing.T, tg *target) {
			if _, ok := tg.Dialer.(*dialers.Local); !ok {
				t.Errorf("dialer %T, want *dialers.Local", tg.Dialer)
			}
		}},
		{"qemu:///session", "unix", "qemu:///session", nil},
		{"qemu+unix:///system?socket=/tmp/x/libvirt-sock", "unix", "qemu:///system", nil},
		{"test+unix:///default?socket=/tmp/x/libvirt-sock", "unix", "test:///default", nil},
		{"test:///default", "unix", "test:///default", nil},
		{"qemu+tcp://127.0.0.1:16599/system", "tcp", "qemu:///system", func(t *testing.T, tg *target) {
			if _, ok := tg.Dialer.(*dialers.Remote); !ok {
				t.Errorf("dialer %T, want *dialers.Remote", tg.Dialer)
			}
		}},
		{"qemu+tls://hv1.example/system?pkipath=/etc/pki/op", "tls", "qemu:///system", func(t *testing.T, tg *target) {
			if _, ok := tg.Dialer.(*dialers.TLS); !ok {
				t.Errorf("dialer %T, want *dialers.TLS", tg.Dialer)
			}
		}},
		{"qemu://hv1.example/system", "tls", "qemu:///system", nil},
		{"qemu+ssh://root@hv3:2222/system?keyfile=/k/id&known_hosts=/k/kh", "ssh", "qemu:///system", func(t *testing.T, tg *target) {
			d := tg.Dialer.(*sshDialer)
			if d.addr != "hv3:2222" || d.user != "root" || d.keyFile != "/k/id" || d.knownHosts != "/k/kh" || d.noVerify || d.remoteSocket != defaultSocket {
				t.Errorf("ssh dialer %+v", d)
			}
		}},
		{"qemu+ssh://hv3/system", "ssh", "qemu:///system", func(t *testing.T, tg *target) {
			d := tg.Dialer.(*sshDialer)
			if d.addr != "hv3:22" || d.knownHosts != filepath.Join("/home/op", ".ssh", "known_hosts") || d.noVerify {
				t.Errorf("ssh dialer %+v: known_hosts must be checked by default", d)
			}
		}},
		{"qemu+ssh://op@hv3/system?no_verify=1&socket=/run/libvirt/virtqemud-sock", "ssh", "qemu:///system", func(t *testing.T, tg *target) {
			d := tg.Dialer.(*sshDialer)
			if !d.noVerify || d.remoteSocket != "/run/libvirt/virtqemud-sock" {
				t.Errorf("ssh dialer %+v", d)
			}
		}},
		{"qemu+libssh2://op@hv3/system?known_hosts_verify=ignore", "ssh", "qemu:///system", func(t *testing.T, tg *target) {
			if d := tg.Dialer.(*sshDialer); !d.noVerify {
				t.Errorf("ssh dialer %+v", d)
			}
		}},
		{"qemu+ssh://op:pw@hv3/system", "ssh", "qemu:///system", func(t *testing.T, tg *target) {
			if d := tg.Dialer.(*sshDialer); d.password != "pw" {
				t.Errorf("password not taken from the URI")
			}
			if strings.Contains(tg.Display, "pw") {
				t.Errorf("display URI %q shows the password", tg.Display)
			}
		}},
		{"qemu+unix:///system?name=qemu:///embed", "unix", "qemu:///embed", nil},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			tg, err := parseTarget(c.uri)
			if err != nil {
				t.Fatal(err)
			}
			if tg.Transport != c.transport || string(tg.Remote) != c.remote {
				t.Errorf("transport %q remote %q, want %q %q", tg.Transport, tg.Remote, c.transport, c.remote)
			}
			if c.check != nil {
				c.check(t, tg)
			}
		})
	}
}

func TestParseTargetErrors(t *testing.T) {
	for _, uri := range []string{
		"/var/run/libvirt/libvirt-sock",
		"qemu+tcp:///system",
		"qemu+ssh:///system",
		"qemu+foo://h/system",
		"qemu+tls://h/system?no_verify=yes",
		"qemu+ssh://h/system?known_hosts_verify=auto",
		"qemu+ssh://h/session",
		"qemu+unix://host/system",
		"qemu+ssh://h/system?sshauth=agent",
	} {
		if tg, err := parseTarget(uri); err == nil {
			t.Errorf("%s: accepted (%+v)", uri, tg)
		}
	}
}

func TestResolveURI(t *testing.T) {
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	if got := resolveURI(""); got != DefaultURI {
		t.Errorf("default %q", got)
	}
	t.Setenv("LIBVIRT_DEFAULT_URI", "test:///default")
	if got := resolveURI(""); got != "test:///default" {
		t.Errorf("env %q", got)
	}
	if got := resolveURI("qemu+tcp://h/system"); got != "qemu+tcp://h/system" {
		t.Errorf("config %q", got)
	}
}
