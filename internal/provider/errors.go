package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// Diagnostic titles of the error classes that do not depend on the operation.
const (
	titleConfig      = "Invalid provider configuration"
	titleAuth        = "Authentication failed"
	titleUnreachable = "Cannot reach the backend"
	titleRefused     = "Refused by the backend"
	// titleInvalid is the caller's title of plan-time checks; errors that do not say the
	// request is wrong get titleCheck instead.
	titleInvalid = "Invalid rescue"
	titleCheck   = "Cannot check the rescue"
)

// terraformWords turns the backends' words into the user's: the backends speak of instances,
// rescues, unrescues and requests; the user of this provider runs apply and destroy on a
// resource. The backends' phrases are kept in their messages as written here.
var terraformWords = strings.NewReplacer(
	"another unrescue finishes it", "unrescue again (terraform destroy) finishes it",
	"an unrescue restores it", "unrescue (terraform destroy) restores it",
	"a new rescue takes it over", "a new rescue (terraform apply) takes it over",
	"what that rescue asks for", "what the configuration asks for",
	"A new rescue takes it over when it is complete and what the new rescue asks for", "Apply takes that rescue over when it is complete and what the configuration asks for",
	"the rescue this request asks for", "the rescue this configuration asks for",
	"remove shutdown_timeout from the request", "remove shutdown_timeout from this resource",
	"not on the machine that asks for the rescue", "not where terraform runs",
	", then try again", ", then plan again",
	" and held by no caller: ", " without state: ",
	"never reached its caller", "never reached Terraform's state",
	"the new password is returned to the caller", "the new password is kept in state",
)

// addErr turns an engine error into a diagnostic: a title that says the error's class, the
// backend's reason in the detail, attached to the attribute at fault where there is one.
func addErr(diags *diag.Diagnostics, title string, err error) {
	title, detail, attr := describe(title, err)
	if attr != "" {
		diags.AddAttributeError(path.Root(attr), title, detail)
		return
	}
	diags.AddError(title, detail)
}

// describe maps an engine error to a diagnostic title, detail and attribute. title is the
// caller's (it names the operation); classes that do not depend on the operation replace it:
//   - configuration (rescue.ErrConfig): the provider block, clouds.yaml or the environment;
//   - authentication (rescue.ErrAuth);
//   - cannot reach (rescue.ErrUnavailable after the retries, or any network error), unless
//     the backend had accepted a rescue, whose title says so;
//   - refused by the backend (ConflictError), verbatim;
//   - invalid input (InvalidError, NotFoundError), attached to the attribute;
//   - unsupported, failed (the backend's reason), timed out (what the wait saw).
//
// The detail is in Terraform's words (terraformWords).
func describe(title string, err error) (string, string, string) {
	title, detail, attr := describeClass(title, err)
	return title, terraformWords.Replace(detail), attr
}

// describeClass is describe in the backends' words.
func describeClass(title string, err error) (string, string, string) {
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
	case errors.Is(err, errConfigUnknown):
		return title, err.Error() + ": apply the resources the provider configuration depends on first.", ""
	case errors.Is(err, rescue.ErrConfig):
		return titleConfig, err.Error() + "\n\nFix the provider configuration (its block, clouds.yaml or the environment).", ""
	case errors.Is(err, rescue.ErrAuth):
		return titleAuth, err.Error() + "\n\nThe backend refused the credentials: check them; the provider does not " +
			"try them again in this run.", ""
	case errors.As(err, &to):
		return title, err.Error() + ". Raise the resource's `timeouts` if the backend is slow.", ""
	case errors.As(err, &inv):
		return title, inv.Msg, inv.Attribute
	case errors.As(err, &nf):
		attr := "instance_id"
		if nf.What == "image" {
			attr = "image_id"
		}
		return title, err.Error(), attr
	case errors.As(err, &cf):
		return titleRefused, "The backend refused: " + cf.Msg, ""
	case errors.As(err, &un):
		return title, un.Msg, ""
	case errors.As(err, &fail):
		return title, fmt.Sprintf("The %s of %s failed: %s", fail.Op, fail.InstanceID, fail.Reason), ""
	case unreachable(err):
		if rescue.Accepted(err) {
			return title, err.Error(), ""
		}
		return titleUnreachable, err.Error() + "\n\nThe backend could not be reached, or answered that it is " +
			"unavailable, and retrying did not help. Check that its API is up and reachable from here, then run " +
			"Terraform again.", ""
	case errors.Is(err, context.DeadlineExceeded):
		return title, err.Error() + "\n\nThe operation's time ran out. Raise the resource's `timeouts` if the backend is slow.", ""
	}
	if title == titleInvalid {
		return titleCheck, err.Error(), ""
	}
	return title, err.Error(), ""
}

// unreachable reports whether err says the backend could not be reached: a failure the
// backend marked transient, or a network error (connection refused, DNS, TLS), but not the
// end of the operation's own time.
func unreachable(err error) bool {
	if rescue.IsUnavailable(err) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}
