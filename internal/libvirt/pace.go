package libvirt

import (
	"context"
	"net"
	"sync"

	"github.com/rescue-labs/terraform-provider-rescue/internal/ratelimit"
)

// pacedConn takes a token of the backend's bucket (provider setting max_requests_per_second)
// before each write to libvirtd: go-libvirt writes one RPC packet per write, so the bucket
// paces the RPCs of every connection of the Backend together. A write waiting for a token
// ends when the connection is closed or aborted.
type pacedConn struct {
	net.Conn
	bucket *ratelimit.Bucket
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// pace wraps nc when the bucket limits the rate; stop ends any write waiting for a token.
func pace(nc net.Conn, b *ratelimit.Bucket) (c net.Conn, stop func()) {
	if b.Limit() == 0 {
		return nc, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pacedConn{Conn: nc, bucket: b, ctx: ctx, cancel: cancel}
	return p, cancel
}

// Write implements net.Conn.
func (p *pacedConn) Write(b []byte) (int, error) {
	if err := p.bucket.Wait(p.ctx); err != nil {
		return 0, net.ErrClosed
	}
	return p.Conn.Write(b)
}

// Close implements net.Conn.
func (p *pacedConn) Close() error {
	p.once.Do(p.cancel)
	return p.Conn.Close()
}
