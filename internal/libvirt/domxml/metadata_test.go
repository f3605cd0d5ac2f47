package domxml

import (
	"strings"
	"testing"
)

func TestAddMetadata(t *testing.T) {
	const el = `<r:rescue xmlns:r='urn:r' a='1'><o/></r:rescue>`
	for _, c := range []struct{ in, want string }{
		{"<domain type='kvm'>\n  <name>x</name>\n</domain>", "<metadata>" + el + "</metadata>"},
		{"<domain type='kvm'>\n  <name>x</name>\n  <metadata>\n    <f:x xmlns:f='urn:f'/>\n  </metadata>\n</domain>", `<f:x xmlns:f='urn:f'/>` + "\n    " + el},
	} {
		got, err := AddMetadata(c.in, el)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, c.want) || !strings.Contains(got, "<name>x</name>") {
			t.Errorf("AddMetadata(%q) = %q, want it to contain %q", c.in, got, c.want)
		}
	}
	if _, err := AddMetadata("<network/>", el); err == nil {
		t.Error("no error for a non-domain")
	}
}
