package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket"
)

// Reading the first bytes of a volume (virStorageVolDownload) for the content check.
//
// go-libvirt ends a download at the first empty stream packet, and libvirtd sends such a packet
// at the end of the data but sometimes also before or between data packets; the stream's later
// packets then either are lost (a short read) or block go-libvirt's connection for good (its
// router waits holding the lock the request needs to deregister: go-libvirt issue #241; seen
// here in about one of 40 reads). The stream is also never finished on the daemon's side. So
// downloads never use the backend's shared connection: they run on a connection of their own,
// which is closed (its socket, not an RPC that could block) after the check. A read is done as
// soon as the bytes it asked for (those inside the file) have arrived: when go-libvirt's call
// has not returned by then, the connection is given up (its goroutines return when the socket
// closes, or stay blocked if they deadlocked: a few goroutines for the life of the provider
// process). A read that comes back short or does not deliver within downloadTimeout is tried
// again on a new connection.

const (
	// downloadTimeout bounds one read of a few KiB (a few ms on a local daemon; a deadlocked
	// download is only told from a slow one by this time).
	downloadTimeout = 2 * time.Second
	// connectTimeout bounds opening the reader's connection.
	connectTimeout = 15 * time.Second
	// downloadAttempts is how often a read is tried (each on a fresh connection after a failure).
	downloadAttempts = 4
)

// volReader reads parts of volumes over a connection of its own.
type volReader struct {
	target *target
	ctx    context.Context

	l    *golibvirt.Libvirt
	conn *recordingDialer
}

// recordingDialer keeps the socket it opened, so that it can be closed without an RPC.
type recordingDialer struct {
	d    socket.Dialer
	mu   sync.Mutex
	conn net.Conn
}

func (r *recordingDialer) Dial() (net.Conn, error) {
	c, err := r.d.Dial()
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
	return c, err
}

func (r *recordingDialer) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		_ = r.conn.Close()
	}
}

func newVolReader(ctx context.Context, t *target) *volReader {
	return &volReader{target: t, ctx: ctx}
}

// close drops the reader's connection (the daemon then ends its streams).
func (r *volReader) close() {
	if r.conn != nil {
		r.conn.close()
	}
	r.l, r.conn = nil, nil
}

// connect opens the reader's connection, within downloadTimeout and the context.
func (r *volReader) connect() error {
	rd := &recordingDialer{d: r.target.Dialer}
	l := golibvirt.NewWithDialer(rd)
	ch := make(chan error, 1)
	go func() { ch <- l.ConnectToURI(r.target.Remote) }()
	t := time.NewTimer(connectTimeout)
	defer t.Stop()
	select {
	case err := <-ch:
		if err != nil {
			rd.close()
			return &errCannotTell{fmt.Sprintf("a connection to libvirt at %s to read it failed (%v)", r.target.Display, err)}
		}
		r.l, r.conn = l, rd
		return nil
	case <-t.C:
		rd.close()
		return &errCannotTell{fmt.Sprintf("a connection to libvirt at %s to read it got no answer within %s", r.target.Display, connectTimeout)}
	case <-r.ctx.Done():
		rd.close()
		return fmt.Errorf("connect to libvirt at %s to read a volume: %w", r.target.Display, r.ctx.Err())
	}
}

// read reads n bytes at off of vol; want is how many of them are inside the file. It returns
// as soon as want bytes have arrived: when the download has not ended by then (it may never),
// its connection is given up. A download that ends short, fails to connect or does not deliver
// within downloadTimeout is tried again on a new connection.
func (r *volReader) read(vol golibvirt.StorageVol, off, n, want uint64) ([]byte, error) {
	if want == 0 {
		return nil, nil
	}
	var last error
	for attempt := 0; attempt < downloadAttempts; attempt++ {
		if r.l == nil {
			if err := r.connect(); err != nil {
				return nil, err
			}
		}
		w := &wantWriter{want: want, done: make(chan struct{})}
		ch := make(chan error, 1)
		go func(l *golibvirt.Libvirt) { ch <- l.StorageVolDownload(vol, w, off, n, 0) }(r.l)
		t := time.NewTimer(downloadTimeout)
		select {
		case err := <-ch:
			t.Stop()
			if err != nil {
				r.close()
				if isCode(err, golibvirt.ErrNoSupport, golibvirt.ErrOperationUnsupported) {
					return nil, err
				}
				return nil, &errCannotTell{fmt.Sprintf("reading its first bytes through the storage API failed (%v)", err)}
			}
			if b := w.bytes(n); uint64(len(b)) >= want {
				return b, nil
			}
			last = fmt.Errorf("read %d of %d bytes at offset %d of volume %s", len(w.bytes(n)), want, off, vol.Name)
		case <-w.done:
			t.Stop()
			r.close()
			return w.bytes(n), nil
		case <-t.C:
			last = fmt.Errorf("reading %d bytes at offset %d of volume %s did not end within %s", n, off, vol.Name, downloadTimeout)
		case <-r.ctx.Done():
			t.Stop()
			r.close()
			return nil, fmt.Errorf("read volume %s: %w", vol.Name, r.ctx.Err())
		}
		r.close()
	}
	return nil, &errCannotTell{fmt.Sprintf("reading its first bytes through the storage API failed %d times (%v)", downloadAttempts, last)}
}

// wantWriter collects a download and closes done once want bytes have arrived.
type wantWriter struct {
	mu   sync.Mutex
	buf  []byte
	want uint64
	done chan struct{}
}

func (w *wantWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := uint64(len(w.buf))
	w.buf = append(w.buf, p...)
	if had < w.want && uint64(len(w.buf)) >= w.want {
		close(w.done)
	}
	return len(p), nil
}

// bytes returns a copy of at most n bytes collected so far.
func (w *wantWriter) bytes(n uint64) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf[:min(uint64(len(w.buf)), n)])
}

// reader returns a readAtFunc over vol whose file has size bytes (0: unknown, then every
// read must be complete).
func (r *volReader) reader(vol golibvirt.StorageVol, size uint64) readAtFunc {
	return func(off, n uint64) ([]byte, error) {
		want := n
		if size > 0 {
			want = 0
			if off < size {
				want = min(n, size-off)
			}
		}
		return r.read(vol, off, n, want)
	}
}
