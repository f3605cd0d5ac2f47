package nova

import (
	"testing"
)

func TestChooseMicroversion(t *testing.T) {
	mv := func(s string) microversion {
		v, err := parseMicroversion(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ min, max, want string }{
		{"2.1", "2.93", "2.87"},
		{"2.1", "2.87", "2.87"},
		{"2.1", "2.86", "2.1"},
		{"2.1", "2.60", "2.1"},
		{"2.1", "2.1", "2.1"},
		{"2.0", "2.0", ""},
		{"2.90", "2.95", ""},
	} {
		if got := chooseMicroversion(mv(c.min), mv(c.max)); got != c.want {
			t.Errorf("choose(%s..%s) = %q, want %q", c.min, c.max, got, c.want)
		}
	}
	n := negotiated{min: mv("2.1"), max: mv("2.86"), use: "2.1"}
	if n.supports("2.87") || !n.supports("2.86") || !n.supports("2.1") || n.supports("x") {
		t.Fatal("supports")
	}
	for _, bad := range []string{"", "2", "a.b", "2.-1"} {
		if _, err := parseMicroversion(bad); err == nil {
			t.Errorf("parseMicroversion(%q) accepted", bad)
		}
	}
}
