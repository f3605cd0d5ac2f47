package nova

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.Lister = (*Backend)(nil)

// listPageSize is the page size of GET /servers/detail (Nova caps it at its [api] max_limit,
// 1000 by default, and gophercloud follows the next links).
var listPageSize = 1000

// List implements rescue.Lister: GET /servers/detail, paged (with all_tenants for all_projects
// and Nova's own tags filter), then the filter; for each server found in rescue, when its rescue
// began (the start of its newest rescue action, GET os-instance-actions). Nova does not say
// which image or device a rescue uses, nor who made it: those stay unknown.
func (b *Backend) List(ctx context.Context, f rescue.Filter) ([]rescue.Listed, error) {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return nil, err
	}
	opts := servers.ListOpts{AllTenants: f.AllProjects, Limit: listPageSize, Tags: strings.Join(f.Tags, ",")}
	pages, err := servers.List(c, opts).AllPages(ctx)
	if code, _, ok := httpStatus(err); ok && code == http.StatusForbidden && f.AllProjects {
		return nil, &rescue.InvalidError{Attribute: "all_projects", Msg: "Nova lists the servers of every project " +
			"for administrators only, and refused it to these credentials (" + describe(err) + "). Remove " +
			"all_projects to list the servers of your own project, or use an administrator's credentials."}
	}
	if err != nil {
		return nil, markAuth(fmt.Errorf("list servers: Nova answered %s", describe(err)), err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	found := make([]rescue.Listed, 0, len(all))
	for i := range all {
		found = append(found, listedServer(&all[i]))
	}
	found = f.Select(found)
	for i := range found {
		if !found[i].InRescue {
			continue
		}
		if err := b.rescueStart(ctx, &found[i]); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// listedServer maps a server of the listing (pure logic).
func listedServer(s *servers.Server) rescue.Listed {
	inst := instanceOf(s)
	l := rescue.Listed{
		ID: s.ID, Name: s.Name, Status: s.Status, Metadata: s.Metadata,
		InRescue: inst.State == rescue.StateRescued || inst.State == rescue.StateRescuing,
	}
	if s.Tags != nil {
		l.Tags = *s.Tags
	}
	return l
}

// rescueStart sets when the server's current rescue began: the start of its newest rescue
// action (Nova lists the newest first).
func (b *Backend) rescueStart(ctx context.Context, l *rescue.Listed) error {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return err
	}
	pages, err := instanceactions.List(c, l.ID, nil).AllPages(ctx)
	if err != nil {
		return actionsError(l.ID, err)
	}
	acts, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		return fmt.Errorf("read the actions of instance %s: %w", l.ID, err)
	}
	for _, a := range acts {
		if a.Action == "rescue" {
			l.RescuedAt = a.StartTime.UTC()
			return nil
		}
	}
	return nil
}
