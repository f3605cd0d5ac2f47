package rescue_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestCheckPair(t *testing.T) {
	refused := map[[2]string]string{
		{"disk", "fdc"}:     `bus "fdc" only takes a floppy`,
		{"cdrom", "fdc"}:    `bus "fdc" only takes a floppy`,
		{"cdrom", "virtio"}: `no ejectable media`,
	}
	for _, d := range rescue.Devices {
		for _, b := range rescue.Buses {
			p := rescue.CheckPair(d, b)
			want, bad := refused[[2]string{d, b}]
			if d == "floppy" && b != "fdc" {
				want, bad = `a floppy needs bus "fdc"`, true
			}
			switch {
			case !bad && p != nil:
				t.Errorf("%s on %s refused: %+v", d, b, p)
			case bad && (p == nil || !strings.Contains(p.Why, want) || p.Fix == ""):
				t.Errorf("%s on %s: got %+v, want a reason with %q and a fix", d, b, p, want)
			}
		}
	}
	err := rescue.CheckPair("floppy", "scsi").Invalid("floppy", "scsi")
	var inv *rescue.InvalidError
	if !errors.As(err, &inv) || inv.Attribute != "bus" ||
		inv.Msg != `device "floppy" on bus "scsi" is not possible: a floppy needs bus "fdc". Use bus "fdc" for a floppy, or another device on bus "scsi".` {
		t.Errorf("Invalid: %#v", err)
	}
}
