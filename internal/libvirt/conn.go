package libvirt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Connections and their bounds. go-libvirt's RPCs take no context, so an operation's context
// bounds them from outside: a watchdog closes the connection when the context ends while the
// operation still uses it (its pending RPCs then return at once), and a keepalive closes a
// connection whose daemon stopped answering (a dead peer, a black-holed network), so that the
// next call opens a new one.
//
// Reads (Get, Validate) share one connection per Backend; a read whose context ended while it
// was still using the connection closes it for everyone, and the other reads see a lost
// connection (a ConnLostError, transient: waits retry it on a new connection). A rescue or an
// unrescue has a connection of its own for its whole run (a rollback gets a new one): its
// sequence of changes is never cut by another resource's timeout, and its own timeout cuts
// only its own calls. That costs one connect per rescue or unrescue (milliseconds; one SSH
// handshake over qemu+ssh), against one per poll for the reads if each read had its own.

const (
	// defaultCutGrace is how long an operation whose context ended may still use its
	// connection (to return by itself) before the connection is closed under it.
	defaultCutGrace = 2 * time.Second
	// defaultRollbackGrace is how long a rollback may run after the operation's context ended.
	defaultRollbackGrace = 10 * time.Second
	// closeGrace bounds a clean close (libvirt's ConnectClose) before the socket is closed.
	closeGrace = 2 * time.Second
)

// Keepalive defaults, as virsh's (keepalive_interval 5, keepalive_count 5): a connection whose
// daemon answers nothing for about 30 s is closed.
const (
	defaultKeepaliveInterval = 5 * time.Second
	defaultKeepaliveTimeout  = 30 * time.Second
)

// ConnLostError says the connection to libvirtd was lost, or could not be opened, for a
// reason a new connection may not have (daemon restarted, network down, keepalive timeout,
// another operation's timeout closed the shared connection). It is transient: a wait retries
// it until its deadline.
type ConnLostError struct {
	// URI is the connection URI, without its password.
	URI string
	// Cause says why the connection was closed, when this process closed it.
	Cause error
	// Err is the error of the call that failed.
	Err error
}

func (e *ConnLostError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%v (connection to libvirtd at %s lost: %v)", e.Err, e.URI, e.Cause)
	}
	return fmt.Sprintf("%v (connection to libvirtd at %s lost)", e.Err, e.URI)
}

// Unwrap returns the error of the failed call and rescue.ErrUnavailable: a lost connection is
// transient (the engine's waits retry it on a new connection until their deadline, and the
// provider reports it as a backend it cannot reach).
func (e *ConnLostError) Unwrap() []error { return []error{e.Err, rescue.ErrUnavailable} }

// IsConnLost reports whether err is or wraps a ConnLostError.
func IsConnLost(err error) bool {
	var c *ConnLostError
	return errors.As(err, &c)
}

// conn is one connection to libvirtd.
type conn struct {
	l      *golibvirt.Libvirt
	dialer *trackingDialer
	// cutGrace: see defaultCutGrace.
	cutGrace time.Duration

	mu    sync.Mutex
	cause error // why this process closed the connection under its users
}

// alive reports whether the connection is up. A connection this process cut is not, even in
// the moment before go-libvirt's reader sees its socket closed (a read that returned with the
// cut must not hand the same connection to the next read).
func (c *conn) alive() bool { return c.cutCause() == nil && c.l.IsConnected() }

// cut closes the connection at once, without the ConnectClose RPC (the daemon may not answer):
// pending RPCs return, and go-libvirt marks the connection disconnected.
func (c *conn) cut(cause error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = cause
	}
	c.mu.Unlock()
	c.dialer.abort()
}

// cutCause returns why the connection was cut, if it was.
func (c *conn) cutCause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// close closes the connection cleanly when the daemon answers within closeGrace, else cuts it.
func (c *conn) close() {
	if !c.alive() {
		c.dialer.abort()
		return
	}
	done := make(chan struct{})
	go func() { _ = c.l.Disconnect(); close(done) }()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.cut(errors.New("libvirtd did not answer the close"))
	}
}

// watch cuts the connection when ctx ends while the operation still uses it (until the
// returned release is called), after c.cutGrace.
func (c *conn) watch(ctx context.Context) (release func()) {
	released := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(c.cutGrace)
		defer t.Stop()
		select {
		case <-released:
		case <-t.C:
			c.cut(fmt.Errorf("closed when the operation's context ended with a call in progress: %w", context.Cause(ctx)))
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			stop()
			close(released)
		})
	}
}

// keepalive asks the daemon for its version every interval and cuts the connection when an
// answer takes longer than timeout. It returns when the connection is closed.
func (c *conn) keepalive(interval, timeout time.Duration) {
	gone := c.l.Disconnected()
	for {
		select {
		case <-gone:
			return
		case <-time.After(interval):
		}
		answered := make(chan error, 1)
		go func() {
			_, err := c.l.ConnectGetLibVersion()
			answered <- err
		}()
		t := time.NewTimer(timeout)
		select {
		case <-gone:
			t.Stop()
			return
		case <-answered:
			t.Stop()
		case <-t.C:
			c.cut(fmt.Errorf("libvirtd did not answer a keepalive within %s", timeout))
			return
		}
	}
}

// errClosed says the Backend was closed.
var errClosed = errors.New("the libvirt backend is closed")

// connect opens a new connection, bounded by ctx: a dial or handshake still pending when ctx
// ends is abandoned and its socket closed.
func (b *Backend) connect(ctx context.Context) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to libvirt at %s: %w", b.target.Display, err)
	}
	if b.isClosed() {
		return nil, fmt.Errorf("connect to libvirt at %s: %w", b.target.Display, errClosed)
	}
	c := &conn{dialer: &trackingDialer{inner: b.target.Dialer, bucket: b.bucket}, cutGrace: b.cutGrace}
	c.l = golibvirt.NewWithDialer(c.dialer)
	ch := make(chan error, 1)
	go func() { ch <- c.l.ConnectToURI(b.target.Remote) }()
	select {
	case err := <-ch:
		if err != nil {
			c.dialer.abort()
			err = fmt.Errorf("connect to libvirt at %s: %w", b.target.Display, err)
			if isConnErr(err) {
				return nil, &ConnLostError{URI: b.target.Display, Err: err}
			}
			return nil, err
		}
	case <-ctx.Done():
		c.cut(context.Cause(ctx))
		go func() {
			if err := <-ch; err == nil {
				c.dialer.abort()
			}
		}()
		return nil, fmt.Errorf("connect to libvirt at %s: no answer before the operation's context ended: %w", b.target.Display, context.Cause(ctx))
	}
	if !b.track(c) {
		c.close()
		return nil, fmt.Errorf("connect to libvirt at %s: %w", b.target.Display, errClosed)
	}
	go c.keepalive(b.keepaliveInterval, b.keepaliveTimeout)
	return c, nil
}

// track records an open connection so that Close closes it; false when the Backend is closed.
func (b *Backend) track(c *conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Backend) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *Backend) untrack(c *conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.conns, c)
}

// sharedConn returns the shared connection, opening it (again) when there is none or it was
// lost. Only one caller connects at a time; the others wait for it within their own context.
func (b *Backend) sharedConn(ctx context.Context) (*conn, error) {
	for {
		b.mu.Lock()
		if b.conn != nil && b.conn.alive() {
			c := b.conn
			b.mu.Unlock()
			return c, nil
		}
		if b.dialing == nil {
			dialing := make(chan struct{})
			b.dialing = dialing
			b.mu.Unlock()
			c, err := b.connect(ctx)
			b.mu.Lock()
			if err == nil {
				if old := b.conn; old != nil {
					delete(b.conns, old)
				}
				b.conn = c
			}
			b.dialing = nil
			close(dialing)
			b.mu.Unlock()
			return c, err
		}
		dialing := b.dialing
		b.mu.Unlock()
		select {
		case <-dialing:
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to libvirt at %s: %w", b.target.Display, ctx.Err())
		}
	}
}

// client returns the shared connection for one read, watched by ctx. The caller defers
// done(err) on its result: it ends the watch and turns a failure of the connection into a
// ConnLostError (or, when ctx ended, an error that wraps ctx's).
func (b *Backend) client(ctx context.Context) (*golibvirt.Libvirt, func(error) error, error) {
	c, err := b.sharedConn(ctx)
	if err != nil {
		return nil, nil, err
	}
	release := c.watch(ctx)
	return c.l, func(err error) error {
		release()
		return b.explain(ctx, c, err)
	}, nil
}

// dedicated opens a connection of one operation's own (a rescue, an unrescue, a rollback),
// watched by ctx; done(err) ends the watch, closes the connection and explains err as
// client's does.
func (b *Backend) dedicated(ctx context.Context) (*golibvirt.Libvirt, func(error) error, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	release := c.watch(ctx)
	return c.l, func(err error) error {
		release()
		b.untrack(c)
		c.close()
		return b.explain(ctx, c, err)
	}, nil
}

// explain explains a failure that a lost connection caused: with ctx ended, an error that
// wraps ctx's error (the operation ran out of time); otherwise a ConnLostError.
func (b *Backend) explain(ctx context.Context, c *conn, err error) error {
	if err == nil || IsConnLost(err) {
		return err
	}
	ctxErr := ctx.Err()
	switch {
	case isConnErr(err):
	case ctxErr != nil && c.cutCause() != nil:
		// A failure after the watchdog closed the connection (libvirt's text kept in a
		// typed error): the operation ran out of time.
	default:
		return err
	}
	if ctxErr != nil {
		return fmt.Errorf("%w (the connection to libvirtd at %s was closed when the operation's context ended: %w)", err, b.target.Display, ctxErr)
	}
	return &ConnLostError{URI: b.target.Display, Cause: c.cutCause(), Err: err}
}

// isConnErr reports whether err is a failure of the connection rather than libvirt's answer.
func isConnErr(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := lverr(err); ok {
		return false
	}
	var ne net.Error
	return errors.Is(err, golibvirt.ErrInterrupted) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
}

// rollbackContext is the context of a rollback after a failure of the operation of ctx: not
// cancelled with ctx (the rollback runs after a timeout or a cancel), but ended b.rollbackGrace
// after ctx ended, so that a rollback on a dead connection cannot hang.
func (b *Backend) rollbackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	grace := b.rollbackGrace
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("the rollback's %s after the operation's end ran out: %w", grace, context.DeadlineExceeded))
		case <-rctx.Done():
		}
	})
	return rctx, func() { stop(); cancel(nil) }
}

// dedicatedRetry is dedicated, tried again on a lost connection (a daemon restarting) until
// ctx ends.
func (b *Backend) dedicatedRetry(ctx context.Context) (*golibvirt.Libvirt, func(error) error, error) {
	for {
		l, done, err := b.dedicated(ctx)
		if err == nil || !IsConnLost(err) {
			return l, done, err
		}
		if serr := rescue.Sleep(ctx, 250*time.Millisecond); serr != nil {
			return nil, nil, err
		}
	}
}

// trackingDialer remembers the socket it dialed, so that a watchdog can close it; a socket
// dialed after abort is closed at once.
type trackingDialer struct {
	inner  socket.Dialer
	bucket *ratelimit.Bucket // max_requests_per_second; nil: unlimited

	mu      sync.Mutex
	nc      net.Conn
	stop    func() // ends a write waiting for the bucket
	aborted bool
}

// Dial implements socket.Dialer.
func (d *trackingDialer) Dial() (net.Conn, error) {
	nc, err := d.inner.Dial()
	if err != nil {
		return nil, err
	}
	setKeepAlive(nc)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.aborted {
		hardClose(nc)
		return nil, net.ErrClosed
	}
	d.nc = nc
	paced, stop := pace(nc, d.bucket)
	d.stop = stop
	return paced, nil
}

// abort closes the dialed socket (and any dialed later) without a goodbye.
func (d *trackingDialer) abort() {
	d.mu.Lock()
	d.aborted = true
	nc, stop := d.nc, d.stop
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
	if nc != nil {
		hardClose(nc)
	}
}

// hardClose closes a socket without anything that could block on a dead peer (TLS
// close_notify, an SSH channel close).
func hardClose(nc net.Conn) {
	switch c := nc.(type) {
	case *tls.Conn:
		_ = c.NetConn().Close()
	case *sshConn:
		_ = c.client.Close()
	default:
		_ = nc.Close()
	}
}

// setKeepAlive makes the kernel probe an idle TCP connection sooner than Go's default, so a
// peer that went away is noticed even without traffic (the keepalive RPCs notice the rest).
func setKeepAlive(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3})
	}
}
