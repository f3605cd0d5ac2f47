package libvirt

import (
	"context"
	"slices"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/rescue-labs/terraform-provider-rescue/internal/libvirt/domxml"
)

// Reads that many resources of one run repeat are made once: a plan or an apply of N rescues
// validates N times, and each validation reads the host's domain capabilities (one per
// emulator, arch, machine and domain type, the same for all of a fleet's domains), the first
// bytes of the rescue image (one image for all), and the definition of every domain of the host
// (to refuse an image that a domain writes to: N validations would read N x all the domains).
//
//   - Domain capabilities are cached for the Backend's life (one provider run): they change
//     only with the host's QEMU or libvirt.
//   - The image's content is cached for contentTTL (see contentOf), per volume, format and size.
//   - The in-use scan is not cached (a domain may take the image as a disk at any time), but
//     concurrent scans for one image share one (a joining caller gets a scan that began a
//     moment before its call, as if it had run it itself an instant earlier).
//
// Concurrent callers with one key share one read (singleflight); each waits within its own
// context. A shared read runs on the connection of the caller that started it; a caller that
// receives another caller's failure reads again on its own connection, since the failure may
// be that caller's (its context ended, its connection was cut).

// flights shares concurrent reads by key.
type flights struct{ g singleflight.Group }

// do runs fn once for the concurrent callers of key: own runs fn on the caller's own
// connection, and is the one run by the first caller. A caller whose ctx ends stops waiting.
func (f *flights) do(ctx context.Context, key string, own func() (any, error)) (any, error) {
	mine := false
	ch := f.g.DoChan(key, func() (any, error) {
		mine = true
		return own()
	})
	select {
	case r := <-ch:
		if r.Err != nil && !mine {
			return own()
		}
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hostCaps caches the host's domain capabilities per emulator, arch, machine and domain type.
type hostCaps struct {
	mu sync.Mutex
	m  map[string]domxml.HostInfo
}

func (c *hostCaps) get(key string) (domxml.HostInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[key]
	return cloneHost(h), ok
}

func (c *hostCaps) put(key string, h domxml.HostInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]domxml.HostInfo{}
	}
	c.m[key] = cloneHost(h)
}

// cloneHost copies h so that no caller changes the cached slices.
func cloneHost(h domxml.HostInfo) domxml.HostInfo {
	h.DiskDevices, h.Buses = slices.Clone(h.DiskDevices), slices.Clone(h.Buses)
	return h
}

// contentFlights shares concurrent reads of one image's content (its cache, contents, is
// process-wide too).
var contentFlights flights
