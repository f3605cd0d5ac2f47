package nova

import (
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Plan-time state checks: Nova rescues a server only from ACTIVE, SHUTOFF and ERROR (its
// vm_states active, stopped, error), and refuses any action on a locked server unless the
// caller is an admin (policy context_is_admin, role admin by default). These are refused
// before any change, naming the state and the fix; RESCUE is left to the rest of the plan
// (a replacement unrescues first).

// stateProblem says why Nova would refuse to rescue a server with this status, or "".
func stateProblem(id, status string) string {
	var fix string
	switch status {
	case "ACTIVE", "SHUTOFF", "ERROR", "RESCUE":
		return ""
	case "PAUSED":
		fix = "unpause it (openstack server unpause " + id + ")"
	case "SUSPENDED":
		fix = "resume it (openstack server resume " + id + ")"
	case "SHELVED", "SHELVED_OFFLOADED":
		fix = "unshelve it (openstack server unshelve " + id + ")"
	case "SOFT_DELETED":
		fix = "restore it (openstack server restore " + id + ")"
	case "VERIFY_RESIZE":
		fix = "confirm or revert its resize (openstack server resize confirm " + id + ", or resize revert)"
	case "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "REVERT_RESIZE", "MIGRATING", "PASSWORD":
		fix = "wait until it is ACTIVE or SHUTOFF"
	case "UNKNOWN":
		fix = "Nova cannot tell its state now (its cell or compute host does not answer); wait until it can"
	case "DELETED":
		fix = "it is deleted; rescue another server"
	default:
		fix = "bring it to ACTIVE or SHUTOFF"
	}
	return fmt.Sprintf("instance %s is %s, and Nova rescues only ACTIVE, SHUTOFF or ERROR servers: %s, then try again", id, status, fix)
}

// lockState is what GET /servers/{id} or a listing says about a server's lock (microversion
// 2.9 shows locked, 2.73 locked_reason).
type lockState struct {
	Locked bool
	Reason string
}

func lockOf(r servers.GetResult, s *servers.Server) lockState {
	var ls lockState
	if s.Locked != nil {
		ls.Locked = *s.Locked
	}
	var extra struct {
		LockedReason *string `json:"locked_reason"`
	}
	if r.ExtractInto(&extra) == nil && extra.LockedReason != nil {
		ls.Reason = *extra.LockedReason
	}
	return ls
}

// lockProblem says what a lock means for a rescue by a caller with roles (known reports
// whether the roles are known): an error for a non-admin, a warning otherwise.
func lockProblem(id string, ls lockState, roles []string, known bool) (problem, warning string) {
	if !ls.Locked {
		return "", ""
	}
	what := "instance " + id + " is locked"
	if ls.Reason != "" {
		what += fmt.Sprintf(" (reason: %q)", ls.Reason)
	}
	admin := false
	for _, r := range roles {
		if strings.EqualFold(r, "admin") {
			admin = true
		}
	}
	switch {
	case known && !admin:
		return fmt.Sprintf("%s, and Nova refuses actions on a locked server to users without the admin role (these "+
			"credentials have roles %s): have it unlocked (openstack server unlock %s), or use admin credentials, then try again",
			what, strings.Join(roles, ", "), id), ""
	case admin:
		return "", what + "; these credentials have the admin role, which Nova lets act on a locked server, so it is rescued anyway"
	}
	return "", what + "; Nova refuses the rescue unless these credentials are an admin's (their roles cannot be " +
		"told with this authentication); unlock it (openstack server unlock " + id + ") if the rescue is refused"
}

// tokenRoles returns the role names of the provider's Keystone v3 token, and whether they are
// known (token authentication without Keystone, noauth, knows none).
func tokenRoles(pc *gophercloud.ProviderClient) ([]string, bool) {
	if pc == nil {
		return nil, false
	}
	res, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return nil, false
	}
	rs, err := res.ExtractRoles()
	if err != nil {
		return nil, false
	}
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		names = append(names, r.Name)
	}
	return names, true
}

// checkState refuses a server Nova will not rescue (InvalidError on instance_id) and returns
// a warning about a lock that may not stop it.
func (b *Backend) checkState(id string, lock lockState, s *servers.Server) (string, error) {
	if msg := stateProblem(id, s.Status); msg != "" {
		return "", &rescue.InvalidError{Attribute: "instance_id", Msg: msg}
	}
	roles, known := tokenRoles(b.provider)
	problem, warning := lockProblem(id, lock, roles, known)
	if problem != "" {
		return "", &rescue.InvalidError{Attribute: "instance_id", Msg: problem}
	}
	return warning, nil
}
