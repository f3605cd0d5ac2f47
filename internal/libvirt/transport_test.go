package libvirt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
	rlibvirt "github.com/rescue-labs/terraform-provider-rescue/internal/libvirt"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// The transports are tested for real against the private libvirtd: TCP and TLS through
// in-test proxies on 127.0.0.1 that forward to the daemon's unix socket (the TLS one speaks
// libvirt's post-handshake check byte), SSH through an in-test SSH server (golang.org/x/crypto/ssh)
// that serves OpenSSH's direct-streamlocal channel to the daemon's socket, as sshd does.

// serveProxy accepts connections on ln and pipes each to the unix socket sock; before that,
// hello (if set) runs on the accepted connection.
func serveProxy(t *testing.T, ln net.Listener, sock string, hello func(net.Conn) error) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				if hello != nil {
					if err := hello(c); err != nil {
						return
					}
				}
				u, err := net.Dial("unix", sock)
				if err != nil {
					return
				}
				pipe(c, u)
			}()
		}
	}()
}

// pipe copies both ways until one side ends, then closes both.
func pipe(a, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(a, b); done <- struct{}{} }()
	go func() { _, _ = io.Copy(b, a); done <- struct{}{} }()
	<-done
	_ = a.Close()
	_ = b.Close()
	<-done
}

// checkTestDriver opens a Backend on uri and reads the test driver's default domain through it.
func checkTestDriver(t *testing.T, uri, transport string) {
	t.Helper()
	b := newBackend(t, uri)
	if tr, remote := rlibvirt.Transport(b); tr != transport || remote != "test:///default" {
		t.Errorf("transport %s, driver %s", tr, remote)
	}
	inst, err := b.Get(context.Background(), "test")
	if err != nil || inst.State != rescue.StateActive {
		t.Fatalf("Get over %s: %+v %v", transport, inst, err)
	}
}

func TestTransportTCP(t *testing.T) {
	lv := libvirtd.Shared(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveProxy(t, ln, lv.Socket, nil)
	checkTestDriver(t, "test+tcp://"+ln.Addr().String()+"/default", "tcp")
}

// pki writes a CA, a server certificate for 127.0.0.1 and a client certificate; the client's
// files go to dir as libvirt expects them (cacert.pem, clientcert.pem, clientkey.pem).
func pki(t *testing.T, dir string) (server tls.Certificate, clientCAs *x509.CertPool) {
	t.Helper()
	mk := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey ed25519.PrivateKey) (*x509.Certificate, ed25519.PrivateKey, []byte) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if parent == nil {
			parent, parentKey = tmpl, priv
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, priv, der
	}
	now := time.Now()
	ca, caKey, caDER := mk(&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	_, srvKey, srvDER := mk(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	_, cliKey, cliDER := mk(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "client"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pkcs8 := func(k ed25519.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write("cacert.pem", "CERTIFICATE", caDER)
	write("clientcert.pem", "CERTIFICATE", cliDER)
	write("clientkey.pem", "PRIVATE KEY", pkcs8(cliKey))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}, pool
}

func TestTransportTLS(t *testing.T) {
	lv := libvirtd.Shared(t)
	good, other := t.TempDir(), t.TempDir()
	srv, cas := pki(t, good)
	pki(t, other) // another CA: its client is refused, and it does not trust the server
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv}, ClientCAs: cas, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	// libvirtd sends one byte (1) after the handshake once it has checked the client certificate.
	serveProxy(t, ln, lv.Socket, func(c net.Conn) error {
		if err := c.(*tls.Conn).Handshake(); err != nil {
			return err
		}
		_, err := c.Write([]byte{1})
		return err
	})
	base := "test+tls://" + ln.Addr().String() + "/default"
	checkTestDriver(t, base+"?pkipath="+good, "tls")
	if _, err := rlibvirt.New(context.Background(), rlibvirt.Config{URI: base + "?pkipath=" + other}); err == nil {
		t.Error("connected with certificates of another CA")
	}
}

func TestTransportSSH(t *testing.T) {
	lv := libvirtd.Shared(t)
	dir := t.TempDir()
	// The client's key, in OpenSSH format.
	_, cliPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(cliPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	cliSigner, err := ssh.NewSignerFromKey(cliPriv)
	if err != nil {
		t.Fatal(err)
	}
	addr, hostKey := startSSHServer(t, "op", cliSigner.PublicKey(), lv.SockDir)

	knownHosts := func(key ssh.PublicKey) string {
		f := filepath.Join(t.TempDir(), "known_hosts")
		line := ""
		if key != nil {
			line = knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
		}
		if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(otherPriv)
	uri := func(user, kh, extra string) string {
		return fmt.Sprintf("test+ssh://%s@%s/default?socket=%s&keyfile=%s&known_hosts=%s%s", user, addr, lv.Socket, keyFile, kh, extra)
	}
	t.Run("known host", func(t *testing.T) {
		checkTestDriver(t, uri("op", knownHosts(hostKey), ""), "ssh")
	})
	for _, c := range []struct{ name, uri, want string }{
		{"host key mismatch", uri("op", knownHosts(otherSigner.PublicKey()), ""), "key mismatch"},
		{"unknown host", uri("op", knownHosts(nil), ""), "key is unknown"},
		{"wrong user", uri("eve", knownHosts(hostKey), ""), "unable to authenticate"},
		{"socket outside", fmt.Sprintf("test+ssh://op@%s/default?socket=/etc/passwd&keyfile=%s&known_hosts=%s", addr, keyFile, knownHosts(hostKey)), "remote libvirt socket"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rlibvirt.New(context.Background(), rlibvirt.Config{URI: c.uri})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error with %q", err, c.want)
			}
		})
	}
	t.Run("no_verify", func(t *testing.T) {
		checkTestDriver(t, uri("op", knownHosts(nil), "&no_verify=1"), "ssh")
	})
	// A server with an ECDSA and an ed25519 host key, known only by the ed25519 one: Go's
	// client prefers ECDSA (golang/go#29286) unless asked for the known key types.
	t.Run("known by ed25519 only, server also has ecdsa", func(t *testing.T) {
		ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ecSigner, err := ssh.NewSignerFromKey(ecPriv)
		if err != nil {
			t.Fatal(err)
		}
		addr2, edKey := startSSHServer(t, "op", cliSigner.PublicKey(), lv.SockDir, ecSigner)
		f := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(f, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr2)}, edKey)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		checkTestDriver(t, fmt.Sprintf("test+ssh://op@%s/default?socket=%s&keyfile=%s&known_hosts=%s", addr2, lv.Socket, keyFile, f), "ssh")

		// Known by an ssh-rsa key only (the ed25519 and ECDSA keys are offered too): rsa-sha2-*.
		rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaSigner, err := ssh.NewSignerFromKey(rsaPriv)
		if err != nil {
			t.Fatal(err)
		}
		addr3, _ := startSSHServer(t, "op", cliSigner.PublicKey(), lv.SockDir, ecSigner, rsaSigner)
		f3 := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(f3, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr3)}, rsaSigner.PublicKey())+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		checkTestDriver(t, fmt.Sprintf("test+ssh://op@%s/default?socket=%s&keyfile=%s&known_hosts=%s", addr3, lv.Socket, keyFile, f3), "ssh")
	})
}

// startSSHServer serves SSH on 127.0.0.1 for one user and key, with direct-streamlocal
// channels to unix sockets under sockDir only.
func startSSHServer(t *testing.T, user string, key ssh.PublicKey, sockDir string, extraHostKeys ...ssh.Signer) (string, ssh.PublicKey) {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if c.User() == user && string(k.Marshal()) == string(key.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("denied")
	}}
	cfg.AddHostKey(hostSigner)
	for _, k := range extraHostKeys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
				if err != nil {
					_ = nc.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				for nch := range chans {
					if nch.ChannelType() != "direct-streamlocal@openssh.com" {
						_ = nch.Reject(ssh.UnknownChannelType, "only direct-streamlocal")
						continue
					}
					var msg struct {
						Path      string
						Reserved0 string
						Reserved1 uint32
					}
					if err := ssh.Unmarshal(nch.ExtraData(), &msg); err != nil || filepath.Dir(msg.Path) != sockDir {
						_ = nch.Reject(ssh.Prohibited, "no such socket")
						continue
					}
					u, err := net.Dial("unix", msg.Path)
					if err != nil {
						_ = nch.Reject(ssh.ConnectionFailed, err.Error())
						continue
					}
					ch, creqs, err := nch.Accept()
					if err != nil {
						_ = u.Close()
						continue
					}
					go ssh.DiscardRequests(creqs)
					wg.Add(1)
					go func() { defer wg.Done(); pipe(ch, u) }()
				}
			}()
		}
	}()
	return ln.Addr().String(), hostSigner.PublicKey()
}
