package libvirt

import (
	"context"
	"fmt"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.BatchGetter = (*Backend)(nil)

// GetMany implements rescue.BatchGetter: one list of all domains of the host
// (virConnectListAllDomains) finds every asked domain, by UUID or else by name as Get does,
// without a look-up per domain; each found domain is then read as Get reads it (its journal and
// state, and its definition when it has a journal: two or three RPCs per asked domain on the
// shared connection, none for the domains nobody asked for). An id that names no domain, or
// whose domain vanishes while it is read, is left out (not found). Any other failure is
// returned for all ids.
func (b *Backend) GetMany(ctx context.Context, ids []string) (_ map[string]*rescue.Instance, err error) {
	out := make(map[string]*rescue.Instance, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	l, done, err := b.client(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = done(err) }()
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, fmt.Errorf("list the domains of %s: %w", b.target.Display, err)
	}
	find := domainIndex(doms)
	for _, id := range ids {
		if _, seen := out[id]; seen {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, ok := find(id)
		if !ok {
			continue
		}
		inst, err := b.instance(l, d, id)
		if rescue.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = inst
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
