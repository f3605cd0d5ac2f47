package provider

import (
	"errors"
	"fmt"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// describe maps an engine error to a diagnostic title, detail and attribute.
func describe(title string, err error) (string, string, string) {
	var (
		inv  *rescue.InvalidError
		nf   *rescue.NotFoundError
		cf   *rescue.ConflictError
		un   *rescue.UnsupportedError
		fail *rescue.FailedError
		to   *rescue.TimeoutError
		ar   *rescue.AlreadyRescuedError
		ip   *rescue.InProgressError
	)
	switch {
	case errors.As(err, &ip):
		return "Rescue in progress by another run", ip.Error() + ". That run's work is left alone, and " +
			"nothing of it is kept in this state. Wait for it to finish (or for its lease to expire if " +
			"its process died), then apply again.", "instance_id"
	case errors.As(err, &ar):
		return "Instance already in rescue", fmt.Sprintf(
			"Instance %s is already in rescue (%s), but not by this resource. To manage that rescue, import it, "+
				"for example with this block in the configuration (replace <name> with the resource's name):\n\n"+
				"  import {\n    to = rescue_instance.<name>\n    id = %q\n  }\n\n"+
				"or `terraform import rescue_instance.<name> %s`; or unrescue it first.", ar.InstanceID, ar.Status, ar.InstanceID, ar.InstanceID), "instance_id"
	case errors.As(err, &inv):
		return title, inv.Msg, inv.Attribute
	case errors.As(err, &nf):
		attr := "instance_id"
		if nf.What == "image" {
			attr = "image_id"
		}
		return title, err.Error(), attr
	case errors.As(err, &cf):
		return title, "The backend refused: " + cf.Msg, ""
	case errors.As(err, &un):
		return title, un.Msg, ""
	case errors.As(err, &fail):
		return title, fmt.Sprintf("The %s of %s failed: %s", fail.Op, fail.InstanceID, fail.Reason), ""
	case errors.As(err, &to):
		return title, err.Error() + ". Raise the resource's `timeouts` if the backend is slow.", ""
	case errors.Is(err, errConfigUnknown):
		return title, err.Error() + ": apply the resources the provider configuration depends on first.", ""
	}
	return title, err.Error(), ""
}
