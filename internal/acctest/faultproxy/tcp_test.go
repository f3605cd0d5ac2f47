package faultproxy

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer serves an echo on network ("tcp" or "unix") until the test ends; it records what
// it received.
type echoServer struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []byte
	wg   sync.WaitGroup
	addr string
}

func newEcho(t *testing.T, network string) *echoServer {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "echo.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, addr: ln.Addr().String()}
	var conns []net.Conn
	var cmu sync.Mutex
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						e.mu.Lock()
						e.got = append(e.got, buf[:n]...)
						e.mu.Unlock()
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		cmu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		cmu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) received() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return string(e.got)
}

func newProxy(t *testing.T, network, target string) *TCP {
	t.Helper()
	p, err := NewTCP(network, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, p *TCP) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads it back within timeout.
func roundTrip(c net.Conn, msg string, timeout time.Duration) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	return readN(c, len(msg), timeout)
}

func readN(c net.Conn, n int, timeout time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, n)
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestTCPPassBothTargets(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			e := newEcho(t, network)
			p := newProxy(t, network, e.addr)
			c := dial(t, p)
			if got, err := roundTrip(c, "hello", 5*time.Second); err != nil || got != "hello" {
				t.Fatalf("round trip: %q %v", got, err)
			}
			if p.Accepted() != 1 || p.Mode() != TCPPass {
				t.Errorf("accepted %d, mode %s", p.Accepted(), p.Mode())
			}
		})
	}
}

// A black hole forwards nothing either way but keeps the connections; once passing again, the
// held data arrives (as TCP would retransmit it). New connections are held too.
func TestTCPBlackhole(t *testing.T) {
	e := newEcho(t, "unix")
	p := newProxy(t, "unix", e.addr)
	c := dial(t, p)
	if _, err := roundTrip(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	if _, err := roundTrip(c, "during", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read while black-holed: %v, want a timeout", err)
	}
	if got := e.received(); got != "before" {
		t.Fatalf("target received %q while black-holed", got)
	}
	c2 := dial(t, p)
	if _, err := roundTrip(c2, "new", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection while black-holed: %v, want a timeout", err)
	}
	p.Pass()
	if got, err := readN(c, len("during"), 5*time.Second); err != nil || got != "during" {
		t.Fatalf("held data after pass: %q %v", got, err)
	}
	if got, err := readN(c2, len("new"), 5*time.Second); err != nil || got != "new" {
		t.Fatalf("held data of the new connection after pass: %q %v", got, err)
	}
}

// Reset closes the open connections with a TCP reset and resets new ones.
func TestTCPReset(t *testing.T) {
	e := newEcho(t, "tcp")
	p := newProxy(t, "tcp", e.addr)
	c := dial(t, p)
	if _, err := roundTrip(c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if _, err := readN(c, 1, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after reset: %v, want a connection reset", err)
	}
	// The reset may come before connect returns, or at the first read.
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		_, err = readN(c2, 1, 5*time.Second)
		_ = c2.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("new connection in reset mode: %v, want a connection reset", err)
	}
	p.Pass()
	if got, err := roundTrip(dial(t, p), "back", 5*time.Second); err != nil || got != "back" {
		t.Fatalf("after pass: %q %v", got, err)
	}
}

func TestTCPDelay(t *testing.T) {
	e := newEcho(t, "tcp")
	p := newProxy(t, "tcp", e.addr)
	c := dial(t, p)
	p.Delay(150 * time.Millisecond)
	start := time.Now()
	if _, err := roundTrip(c, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Both directions are delayed: at least twice the delay.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("round trip took %v with a 150ms delay each way", d)
	}
	p.Delay(0)
	if _, err := roundTrip(c, "fast", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// BlackholeOn forwards until the client sends the pattern (here split over two writes), lets
// that chunk through, then black-holes: the target got it, its answer is held.
func TestTCPBlackholeOn(t *testing.T) {
	e := newEcho(t, "unix")
	p := newProxy(t, "unix", e.addr)
	c := dial(t, p)
	fired := p.BlackholeOn([]byte("TRIGGER"))
	if _, err := roundTrip(c, "harmless TRIG", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
		t.Fatal("fired on a partial pattern")
	default:
	}
	if _, err := roundTrip(c, "GER!", 500*time.Millisecond); !isTimeout(err) {
		t.Fatalf("answer to the trigger: %v, want a timeout (black-holed)", err)
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("not fired")
	}
	if p.Mode() != TCPBlackhole {
		t.Fatalf("mode %s", p.Mode())
	}
	if got := e.received(); !strings.HasSuffix(got, "TRIGGER!") {
		t.Fatalf("target received %q, want the triggering chunk", got)
	}
	p.Pass()
	if got, err := readN(c, len("GER!"), 5*time.Second); err != nil || got != "GER!" {
		t.Fatalf("held answer after pass: %q %v", got, err)
	}
}

// Close ends everything: open connections are closed, even black-holed ones, and nothing
// listens any more.
func TestTCPClose(t *testing.T) {
	e := newEcho(t, "tcp")
	p, err := NewTCP("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	if _, err := roundTrip(c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs with a black-holed connection")
	}
	if _, err := readN(c, 1, 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("read after Close: %v, want the connection closed", err)
	}
	if p.Open() != 0 {
		t.Errorf("%d connections open after Close", p.Open())
	}
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c2.Close()
		t.Fatal("the proxy still accepts after Close")
	}
	if _, err := NewTCP("udp", "x"); err == nil {
		t.Error("NewTCP accepted network udp")
	}
}
