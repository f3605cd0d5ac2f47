package libvirt

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshDialer reaches a remote libvirtd's unix socket through an SSH connection, as libvirt's
// qemu+ssh:// transport does (without running the ssh binary or nc on the remote host: the
// socket is opened with OpenSSH's direct-streamlocal channel).
type sshDialer struct {
	addr         string // host:port
	user         string
	password     string
	keyFile      string // "" = the default keys of ~/.ssh
	knownHosts   string // "" when noVerify
	noVerify     bool
	remoteSocket string
	timeout      time.Duration
}

// newSSHDialer reads the ssh parameters of a libvirt URI: user@host:port, keyfile=,
// known_hosts= (default ~/.ssh/known_hosts, always checked unless no_verify=1 or
// known_hosts_verify=ignore), socket= (remote socket).
func newSSHDialer(u *url.URL, noVerify bool) (*sshDialer, error) {
	if u.Hostname() == "" {
		return nil, fmt.Errorf("libvirt URI %q: the ssh transport needs a host", u.Redacted())
	}
	q := u.Query()
	d := &sshDialer{
		user:         u.User.Username(),
		keyFile:      q.Get("keyfile"),
		knownHosts:   q.Get("known_hosts"),
		noVerify:     noVerify,
		remoteSocket: q.Get("socket"),
		timeout:      20 * time.Second,
	}
	d.password, _ = u.User.Password()
	switch v := q.Get("known_hosts_verify"); v {
	case "", "normal":
	case "ignore":
		d.noVerify = true
	default:
		return nil, fmt.Errorf("libvirt URI %q: known_hosts_verify=%s is not supported (use normal or ignore)", u.Redacted(), v)
	}
	if s := q.Get("sshauth"); s != "" {
		return nil, fmt.Errorf("libvirt URI %q: sshauth is not supported; keys from keyfile=, ~/.ssh and the ssh agent are tried, then the URI's password", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	d.addr = net.JoinHostPort(u.Hostname(), port)
	if d.user == "" {
		if cu, err := user.Current(); err == nil {
			d.user = cu.Username
		}
	}
	if d.remoteSocket == "" {
		if u.Path == "/session" {
			return nil, fmt.Errorf("libvirt URI %q: qemu+ssh to a session daemon needs socket=<path of the remote user's libvirt-sock>", u.Redacted())
		}
		d.remoteSocket = defaultSocket
	}
	if d.knownHosts == "" && !d.noVerify {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("libvirt URI %q: no home directory for ~/.ssh/known_hosts (set known_hosts=): %w", u.Redacted(), err)
		}
		d.knownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	return d, nil
}

// clientConfig builds the SSH client configuration: host key check and auth methods.
func (d *sshDialer) clientConfig() (*ssh.ClientConfig, func(), error) {
	cfg := &ssh.ClientConfig{User: d.user, Timeout: d.timeout}
	if d.noVerify {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // the user asked for no_verify=1
	} else {
		cb, err := knownhosts.New(d.knownHosts)
		if err != nil {
			return nil, nil, fmt.Errorf("read known_hosts %s (add the host with ssh-keyscan, or set no_verify=1): %w", d.knownHosts, err)
		}
		cfg.HostKeyCallback = cb
		// Go prefers ECDSA and RSA host keys (golang/go#29286): a server that also has an
		// ed25519 key, known only by that, would be rejected as a key mismatch. Ask for the
		// key types known_hosts has for this host.
		cfg.HostKeyAlgorithms = knownHostKeyAlgorithms(cb, d.addr)
	}
	var signers []ssh.Signer
	cleanup := func() {}
	keyFiles := []string{d.keyFile}
	if d.keyFile == "" {
		keyFiles = nil
		if home, err := os.UserHomeDir(); err == nil {
			for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				keyFiles = append(keyFiles, filepath.Join(home, ".ssh", k))
			}
		}
	}
	for _, f := range keyFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			if d.keyFile != "" {
				return nil, nil, fmt.Errorf("read ssh key file %s: %w", f, err)
			}
			continue
		}
		s, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			if d.keyFile != "" {
				return nil, nil, fmt.Errorf("parse ssh key file %s: %w", f, err)
			}
			continue
		}
		signers = append(signers, s)
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			if as, err := agent.NewClient(c).Signers(); err == nil {
				signers = append(signers, as...)
			}
			cleanup = func() { _ = c.Close() }
		}
	}
	if len(signers) > 0 {
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signers...))
	}
	if d.password != "" {
		cfg.Auth = append(cfg.Auth, ssh.Password(d.password))
	}
	return cfg, cleanup, nil
}

// knownHostKeyAlgorithms returns the host key algorithms for the key types that known_hosts
// (through its callback cb) has for addr, in its order; nil (Go's defaults) when it has none,
// such as a host known only through a @cert-authority line. ssh-rsa keys allow rsa-sha2-512,
// rsa-sha2-256 and ssh-rsa signatures.
func knownHostKeyAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	// A key no line holds: the KeyError lists the keys known for addr.
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		add := []string{k.Key.Type()}
		if k.Key.Type() == ssh.KeyAlgoRSA {
			add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range add {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// Dial implements socket.Dialer.
func (d *sshDialer) Dial() (net.Conn, error) {
	cfg, cleanup, err := d.clientConfig()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	client, err := ssh.Dial("tcp", d.addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("ssh to %s as %s: %w", d.addr, d.user, err)
	}
	c, err := client.Dial("unix", d.remoteSocket)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("open remote libvirt socket %s over ssh to %s: %w", d.remoteSocket, d.addr, err)
	}
	return &sshConn{Conn: c, client: client}, nil
}

// sshConn closes the SSH client together with the tunnelled socket.
type sshConn struct {
	net.Conn
	client *ssh.Client
}

func (c *sshConn) Close() error {
	err := c.Conn.Close()
	if errors.Is(err, io.EOF) {
		// libvirtd closed the socket after ConnectClose, and the channel with it, first.
		err = nil
	}
	return errors.Join(err, c.client.Close())
}
