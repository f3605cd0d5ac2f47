package acctest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/faultproxy"
)

// ComputeProxy starts a fault-injecting proxy in front of n's compute API, closed when the
// test ends. ProviderConfigVia sends every compute request of the provider through it.
func (n *Nova) ComputeProxy(t testing.TB) *faultproxy.HTTP {
	t.Helper()
	p, err := faultproxy.NewHTTP(n.ComputeURL)
	if err != nil {
		t.Fatalf("start the compute proxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// ProviderConfigVia returns a noauth2 provider block whose compute endpoint is the proxy's
// (Glance is reached directly), with extra attribute lines in the openstack block.
func (n *Nova) ProviderConfigVia(p *faultproxy.HTTP, extra ...string) string {
	return fmt.Sprintf(`
provider "rescue" {
  openstack {
    token = %q
    endpoint_overrides = {
      compute = %q
      image   = %q
    }
    %s
  }
}
`, n.Token, p.URLFor(n.ComputeURL), n.ImageURL, strings.Join(extra, "\n    "))
}

// ServerAction matches the POSTs of one server action ("rescue", "unrescue") to any server,
// or to server id when id is not "".
func ServerAction(action, id string) faultproxy.HTTPMatch {
	server := `[^/]+`
	if id != "" {
		server = regexp.QuoteMeta(id)
	}
	return faultproxy.HTTPMatch{Method: "POST", Path: regexp.MustCompile(`/servers/` + server + `/action$`),
		Body: regexp.MustCompile(`^\s*\{\s*"` + regexp.QuoteMeta(action) + `"`)}
}

// ServerGets matches the GETs of server id (every server when id is "").
func ServerGets(id string) faultproxy.HTTPMatch {
	server := `[^/]+`
	if id != "" {
		server = regexp.QuoteMeta(id)
	}
	return faultproxy.HTTPMatchOf("GET", `/servers/`+server+`$`)
}

// RescuePasswords returns the adminPass of every rescue POST to server id that the proxy
// forwarded to Nova (what Nova got), in order.
func RescuePasswords(p *faultproxy.HTTP, id string) []string {
	m := ServerAction("rescue", id)
	var out []string
	for _, r := range p.Records() {
		if !r.Forwarded() || !m.Path.MatchString(r.Path) || !m.Body.MatchString(r.Body) {
			continue
		}
		var body struct {
			Rescue struct {
				AdminPass string `json:"adminPass"`
			} `json:"rescue"`
		}
		if json.Unmarshal([]byte(r.Body), &body) == nil {
			out = append(out, body.Rescue.AdminPass)
		}
	}
	return out
}
