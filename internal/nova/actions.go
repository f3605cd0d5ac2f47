package nova

import (
	"context"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

var _ rescue.ActionReasoner = (*Backend)(nil)

// actionDetail is the part of GET /servers/{id}/os-instance-actions/{request_id} that says
// why an action failed: each event's result, its details (microversion 2.84 and later, the
// exception's message) and its traceback (admins only).
type actionDetail struct {
	Action    string `json:"action"`
	RequestID string `json:"request_id"`
	Message   string `json:"message"`
	Events    []struct {
		Event     string `json:"event"`
		Result    string `json:"result"`
		Details   string `json:"details"`
		Traceback string `json:"traceback"`
	} `json:"events"`
}

// LastActionError implements rescue.ActionReasoner: it reads the server's newest recorded
// action named action ("rescue", "unrescue") through os-instance-actions and returns Nova's
// short reason when it failed, "" when it did not (or none is recorded). This is how a rescue
// that Nova reverted (the server back in ACTIVE without a fault, for example when the image
// is gone from Glance) gets its reason.
func (b *Backend) LastActionError(ctx context.Context, instanceID, action string) (string, error) {
	c, _, err := b.computeClient(ctx)
	if err != nil {
		return "", err
	}
	pages, err := instanceactions.List(c, instanceID, nil).AllPages(ctx)
	if err != nil {
		return "", actionsError(instanceID, err)
	}
	all, err := instanceactions.ExtractInstanceActions(pages)
	if err != nil {
		return "", fmt.Errorf("read the actions of instance %s: %w", instanceID, err)
	}
	// Nova lists the newest action first.
	var latest *instanceactions.InstanceAction
	for i := range all {
		if all[i].Action == action {
			latest = &all[i]
			break
		}
	}
	if latest == nil {
		return "", nil
	}
	var d actionDetail
	if err := instanceactions.Get(ctx, c, instanceID, latest.RequestID).ExtractIntoStructPtr(&d, "instanceAction"); err != nil {
		return "", actionsError(instanceID, err)
	}
	if d.RequestID == "" {
		d.RequestID = latest.RequestID
	}
	if d.Action == "" {
		d.Action = latest.Action
	}
	return actionReason(d), nil
}

func actionsError(id string, err error) error {
	if _, _, ok := httpStatus(err); ok {
		e := getError(id, err)
		if rescue.IsNotFound(e) {
			return e
		}
		return fmt.Errorf("read the actions of instance %s: Nova answered %s", id, describe(err))
	}
	return fmt.Errorf("read the actions of instance %s: %w", id, err)
}

// actionReason is a short text for a failed action (pure logic): the failed events with
// their details, else the last line of their traceback; "" when the action did not fail.
func actionReason(d actionDetail) string {
	var parts []string
	for _, e := range d.Events {
		if !strings.EqualFold(e.Result, "Error") {
			continue
		}
		why := strings.TrimSpace(e.Details)
		if why == "" {
			why = lastLine(e.Traceback)
		}
		if why == "" {
			parts = append(parts, e.Event+" failed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s", e.Event, why))
	}
	if len(parts) == 0 {
		if m := strings.TrimSpace(d.Message); m != "" {
			parts = append(parts, m)
		} else {
			return ""
		}
	}
	s := fmt.Sprintf("Nova's %s (request %s) failed: %s", d.Action, d.RequestID, strings.Join(parts, "; "))
	if len(s) > maxMessage {
		s = s[:maxMessage] + "..."
	}
	return s
}

// lastLine is the last non-empty line of a traceback, where Python names the exception.
func lastLine(tb string) string {
	lines := strings.Split(strings.TrimSpace(tb), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
