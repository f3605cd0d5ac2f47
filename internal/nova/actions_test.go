package nova

import (
	"testing"
)

func TestActionReason(t *testing.T) {
	type ev = struct {
		Event     string `json:"event"`
		Result    string `json:"result"`
		Details   string `json:"details"`
		Traceback string `json:"traceback"`
	}
	for name, c := range map[string]struct {
		d    actionDetail
		want string
	}{
		"success":     {actionDetail{Action: "rescue", RequestID: "req-1", Events: []ev{{Event: "compute_rescue_instance", Result: "Success"}}}, ""},
		"in progress": {actionDetail{Action: "rescue", RequestID: "req-1", Events: []ev{{Event: "compute_rescue_instance"}}}, ""},
		"details": {actionDetail{Action: "rescue", RequestID: "req-2", Message: "Error", Events: []ev{{Event: "compute_rescue_instance",
			Result: "Error", Details: "Image x could not be found.", Traceback: "Traceback...\nnova.exception.ImageNotFound: Image x could not be found.\n"}}},
			"Nova's rescue (request req-2) failed: compute_rescue_instance: Image x could not be found."},
		"traceback only": {actionDetail{Action: "unrescue", RequestID: "req-3", Events: []ev{{Event: "compute_unrescue_instance",
			Result: "Error", Traceback: "Traceback (most recent call last):\n  File x\nRuntimeError: boom\n\n"}}},
			"Nova's unrescue (request req-3) failed: compute_unrescue_instance: RuntimeError: boom"},
		"no event text": {actionDetail{Action: "rescue", RequestID: "req-4", Events: []ev{{Event: "compute_rescue_instance", Result: "Error"}}},
			"Nova's rescue (request req-4) failed: compute_rescue_instance failed"},
		"message only": {actionDetail{Action: "rescue", RequestID: "req-5", Message: "Error"}, "Nova's rescue (request req-5) failed: Error"},
	} {
		if got := actionReason(c.d); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
