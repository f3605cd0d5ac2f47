package libvirt

import (
	"cmp"
	"context"
	"sync"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.BatchGetter = (*Backend)(nil)

// getManyWorkers bounds the domains GetMany reads at once (below libvirtd's default
// max_client_requests, 5, so that other reads on the shared connection are not queued behind).
const getManyWorkers = 4

// GetMany implements rescue.BatchGetter: one list of all domains of the host
// (virConnectListAllDomains) finds every asked domain, by UUID or else by name as Get does,
// without a look-up per domain; each found domain is then read as Get reads it (its journal and
// state, and its definition when it has a journal: two or three RPCs per asked domain on the
// shared connection, none for the domains nobody asked for), up to getManyWorkers domains at
// once (go-libvirt multiplexes the RPCs: over a remote link a GetMany costs a few round trips,
// not three per domain). An id that names no domain, or whose domain vanishes while it is read,
// is left out (not found). Any other failure is returned for all ids.
func (b *Backend) GetMany(ctx context.Context, ids []string) (_ map[string]*rescue.Instance, err error) {
	if len(ids) == 0 {
		return map[string]*rescue.Instance{}, nil
	}
	l, doms, done, err := b.allDomains(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = done(err) }()
	find := domainIndex(doms)
	asked := make(map[string]golibvirt.Domain, len(ids))
	for _, id := range ids {
		if d, ok := find(id); ok {
			asked[id] = d
		}
	}
	return b.readAll(ctx, l, asked)
}

// readAll reads the asked domains (by id) concurrently, leaving out those that vanished.
func (b *Backend) readAll(ctx context.Context, l *golibvirt.Libvirt, asked map[string]golibvirt.Domain) (map[string]*rescue.Instance, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	out := make(map[string]*rescue.Instance, len(asked))
	sem := make(chan struct{}, getManyWorkers)
	for id, d := range asked {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			inst, err := b.instance(l, d, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[id] = inst
			case !rescue.IsNotFound(err):
				first = cmp.Or(first, err)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// domainIndex returns a look-up of doms by id as lookup does it: the domain whose UUID the id
// is, else the domain named id.
func domainIndex(doms []golibvirt.Domain) func(id string) (golibvirt.Domain, bool) {
	byUUID := make(map[golibvirt.UUID]golibvirt.Domain, len(doms))
	byName := make(map[string]golibvirt.Domain, len(doms))
	for _, d := range doms {
		byUUID[d.UUID] = d
		byName[d.Name] = d
	}
	return func(id string) (golibvirt.Domain, bool) {
		if id == "" {
			return golibvirt.Domain{}, false
		}
		if u, err := uuid.Parse(id); err == nil {
			if d, ok := byUUID[golibvirt.UUID(u)]; ok {
				return d, true
			}
		}
		d, ok := byName[id]
		return d, ok
	}
}
