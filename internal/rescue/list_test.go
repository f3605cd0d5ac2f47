package rescue_test

import (
	"regexp"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestFilterSelect(t *testing.T) {
	yes, no := true, false
	all := []rescue.Listed{
		{ID: "3", Name: "web-2", Status: "ERROR", Metadata: map[string]string{"tier": "web"}, Tags: []string{"prod", "eu"}},
		{ID: "1", Name: "web-1", Status: "RESCUE", InRescue: true, Metadata: map[string]string{"tier": "web"}, Tags: []string{"prod"}},
		{ID: "2", Name: "db-1", Status: "SHUTOFF", Metadata: map[string]string{"tier": "db"}},
	}
	ids := func(ls []rescue.Listed) string {
		s := ""
		for _, l := range ls {
			s += l.ID
		}
		return s
	}
	for name, c := range map[string]struct {
		f    rescue.Filter
		want string
	}{
		"everything, by name":    {rescue.Filter{}, "213"},
		"name regex":             {rescue.Filter{NameRegex: regexp.MustCompile(`^web-`)}, "13"},
		"statuses, any case":     {rescue.Filter{Statuses: []string{"error", "shutoff"}}, "23"},
		"in rescue":              {rescue.Filter{InRescue: &yes}, "1"},
		"not in rescue":          {rescue.Filter{InRescue: &no}, "23"},
		"metadata":               {rescue.Filter{Metadata: map[string]string{"tier": "web"}}, "13"},
		"metadata value differs": {rescue.Filter{Metadata: map[string]string{"tier": "cache"}}, ""},
		"every tag":              {rescue.Filter{Tags: []string{"prod", "eu"}}, "3"},
		"all parts together":     {rescue.Filter{NameRegex: regexp.MustCompile(`web`), Statuses: []string{"RESCUE"}, InRescue: &yes, Tags: []string{"prod"}}, "1"},
		"regex matching no one":  {rescue.Filter{NameRegex: regexp.MustCompile(`^cache`)}, ""},
	} {
		if got := ids(c.f.Select(all)); got != c.want {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
	}
}
