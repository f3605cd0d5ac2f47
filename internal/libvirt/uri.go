package libvirt

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// DefaultURI is used when neither Config.URI nor LIBVIRT_DEFAULT_URI is set.
const DefaultURI = "qemu:///system"

// defaultSocket is libvirtd's read-write socket on a system daemon.
const defaultSocket = "/var/run/libvirt/libvirt-sock"

// target is what a libvirt URI resolves to: how to reach the daemon, and which driver URI to
// open once connected.
type target struct {
	// Transport is unix, tcp, tls or ssh.
	Transport string
	// Dialer opens the byte stream to the daemon.
	Dialer socket.Dialer
	// Remote is the driver URI sent in ConnectOpen (qemu:///system, test:///default, ...).
	Remote golibvirt.ConnectURI
	// Display is the URI without its password, for messages.
	Display string
}

// resolveURI picks the URI: cfg, then LIBVIRT_DEFAULT_URI, then DefaultURI.
func resolveURI(cfg string) string {
	if cfg != "" {
		return cfg
	}
	if env := os.Getenv("LIBVIRT_DEFAULT_URI"); env != "" {
		return env
	}
	return DefaultURI
}

// parseTarget parses a libvirt connection URI (https://libvirt.org/uri.html) into a dialer and
// the driver URI to open. Supported transports: unix (the default without a host), tcp, tls
// (the default with a host, as in libvirt), ssh (also libssh and libssh2, all served by the
// Go SSH client of golang.org/x/crypto/ssh).
func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse libvirt URI: %w", err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("libvirt URI %q has no scheme (expected e.g. qemu:///system)", raw)
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	if transport == "" {
		transport = "unix"
		if u.Host != "" {
			transport = "tls"
		}
	}
	q := u.Query()
	t := &target{Transport: transport, Display: u.Redacted()}
	t.Remote = golibvirt.ConnectURI((&url.URL{Scheme: driver, Path: u.Path}).String())
	if name := q.Get("name"); name != "" {
		t.Remote = golibvirt.ConnectURI(name)
	}
	noVerify, err := flagParam(q, "no_verify")
	if err != nil {
		return nil, err
	}
	switch transport {
	case "unix":
		if u.Host != "" {
			return nil, fmt.Errorf("libvirt URI %q: the unix transport takes no host", t.Display)
		}
		sock := q.Get("socket")
		if sock == "" {
			sock = defaultLocalSocket(u.Path)
		}
		t.Dialer = dialers.NewLocal(dialers.WithSocket(sock))
		t.Transport = "unix"
	case "tcp":
		if u.Hostname() == "" {
			return nil, fmt.Errorf("libvirt URI %q: the tcp transport needs a host", t.Display)
		}
		var opts []dialers.RemoteOption
		if p := u.Port(); p != "" {
			opts = append(opts, dialers.UsePort(p))
		}
		t.Dialer = dialers.NewRemote(u.Hostname(), opts...)
	case "tls":
		if u.Hostname() == "" {
			return nil, fmt.Errorf("libvirt URI %q: the tls transport needs a host", t.Display)
		}
		var opts []dialers.TLSOption
		if p := u.Port(); p != "" {
			opts = append(opts, dialers.UseTLSPort(p))
		}
		if pki := q.Get("pkipath"); pki != "" {
			opts = append(opts, dialers.UsePKIPath(pki))
		}
		if noVerify {
			opts = append(opts, dialers.WithInsecureNoVerify())
		}
		t.Dialer = dialers.NewTLS(u.Hostname(), opts...)
	case "ssh", "libssh", "libssh2":
		d, err := newSSHDialer(u, noVerify)
		if err != nil {
			return nil, err
		}
		t.Dialer = d
		t.Transport = "ssh"
	default:
		return nil, fmt.Errorf("libvirt URI %q: unsupported transport %q (use unix, ssh, tcp or tls)", t.Display, transport)
	}
	return t, nil
}

// defaultLocalSocket is the socket libvirt clients use for a local URI without ?socket=.
func defaultLocalSocket(path string) string {
	if path == "/session" {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			if home, err := os.UserHomeDir(); err == nil {
				dir = filepath.Join(home, ".cache")
			}
		}
		return filepath.Join(dir, "libvirt", "libvirt-sock")
	}
	return defaultSocket
}

// flagParam reads a 0/1 URI parameter such as no_verify.
func flagParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return false, fmt.Errorf("libvirt URI parameter %s=%q: expected 0 or 1", name, v)
	}
	return n != 0, nil
}
