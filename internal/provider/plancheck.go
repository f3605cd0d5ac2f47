package provider

import (
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// timeoutNames are the attributes of the timeouts attribute, in the order they are checked.
var timeoutNames = []string{"create", "read", "update", "delete"}

// validateTimeouts refuses a zero or negative duration in timeouts at plan time (the framework
// accepts any Go duration, and a negative one would fail the operation at once with a
// deadline error).
func validateTimeouts(v timeouts.Value, diags *diag.Diagnostics) {
	if v.IsNull() || v.IsUnknown() {
		return
	}
	attrs := v.Attributes()
	for _, name := range timeoutNames {
		s, ok := attrs[name].(types.String)
		if !ok || s.IsNull() || s.IsUnknown() {
			continue
		}
		d, err := time.ParseDuration(s.ValueString())
		if err != nil || d > 0 {
			// A value that does not parse is the framework's to report.
			continue
		}
		diags.AddAttributeError(path.Root("timeouts").AtName(name), "Invalid timeout",
			fmt.Sprintf("timeouts.%s = %q is not a positive duration: the %s would have no time at all. Use a positive "+
				"duration such as \"10m\" or \"90s\", or remove timeouts.%s for the default (%s).",
				name, s.ValueString(), operationOf(name), name, defaultTimeout))
	}
}

func operationOf(timeout string) string {
	switch timeout {
	case "create":
		return "rescue"
	case "delete":
		return "unrescue"
	case "read":
		return "refresh"
	}
	return "update"
}
