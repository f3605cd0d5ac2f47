package libvirt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// What counts as a failure of the connection, and how explain words it: a lost connection is
// a transient ConnLostError; after the operation's context ended it is that context's error;
// libvirt's own answers stay as they are.
func TestExplainConnectionFailures(t *testing.T) {
	b := &Backend{target: &target{Display: "qemu+tcp://h/system"}}
	c := &conn{dialer: &trackingDialer{}, l: golibvirt.NewWithDialer(nil)}
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	lvErr := golibvirt.Error{Code: uint32(golibvirt.ErrNoDomain), Message: "no domain"}
	opErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, e := range []struct {
		name       string
		err        error
		connErr    bool
		cut        bool
		ctx        context.Context
		wantLost   bool
		wantCtxErr bool
	}{
		{"libvirt's answer", fmt.Errorf("look up: %w", lvErr), false, false, live, false, false},
		{"libvirt's answer after a cut", fmt.Errorf("look up: %w", lvErr), false, true, live, false, false},
		{"interrupted", fmt.Errorf("read state: %w", golibvirt.ErrInterrupted), true, false, live, true, false},
		{"send on a closed connection", syscall.EINVAL, true, false, live, true, false},
		{"reset", opErr, true, false, live, true, false},
		{"interrupted, context ended", golibvirt.ErrInterrupted, true, true, ended, false, true},
		{"a typed error after the watchdog's cut", errors.New("start failed: procedure interrupted"), false, true, ended, false, true},
		{"an error of ours, context ended, no cut", errors.New("bad XML"), false, false, ended, false, false},
	} {
		t.Run(e.name, func(t *testing.T) {
			if got := isConnErr(e.err); got != e.connErr {
				t.Errorf("isConnErr = %v", got)
			}
			cc := &conn{dialer: c.dialer, l: c.l}
			if e.cut {
				cc.cause = errors.New("cut")
			}
			got := b.explain(e.ctx, cc, e.err)
			if !errors.Is(got, e.err) {
				t.Errorf("explain lost the error: %v", got)
			}
			var cl *ConnLostError
			if lost := errors.As(got, &cl); lost != e.wantLost {
				t.Errorf("ConnLostError = %v: %v", lost, got)
			} else if lost && !rescue.IsUnavailable(cl) {
				t.Error("not transient")
			}
			if ctxErr := errors.Is(got, context.Canceled); ctxErr != e.wantCtxErr {
				t.Errorf("wraps the context's error = %v: %v", ctxErr, got)
			}
		})
	}
	if b.explain(live, c, nil) != nil {
		t.Error("explain(nil) is not nil")
	}
}
