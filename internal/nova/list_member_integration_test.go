package nova_test

import (
	"regexp"
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest"
	"github.com/rescue-labs/terraform-provider-rescue/internal/nova"
	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

// List as a project member (noauth2 token "member:<project>", not an administrator) against
// Nova's own code and policy: the member sees the servers of its project only, and all
// projects is refused on the all_projects attribute with what to do instead.
func TestListAsProjectMember(t *testing.T) {
	clearOSEnv(t)
	n := acctest.StartNovaT(t)
	member := acctest.NewNoAuthNova(n.NovaProcess, "member:listmember")
	mine := member.CreateServer(t, acctest.ServerOpts{Name: "lm-own"})
	n.CreateServer(t, acctest.ServerOpts{Name: "lm-admin"})
	b, err := nova.New(ctx(t), nova.Config{Token: member.Token,
		EndpointOverrides: map[string]string{"compute": n.ComputeURL, "image": n.ImageURL}})
	if err != nil {
		t.Fatalf("nova.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })

	found, err := b.List(ctx(t), rescue.Filter{NameRegex: regexp.MustCompile("^lm-")})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != mine {
		t.Fatalf("the member listed %+v, want only its server %s", found, mine)
	}
	_, err = b.List(ctx(t), rescue.Filter{AllProjects: true})
	wantInvalid(t, err, "all_projects", "administrators only", "get_all_tenants", "Remove all_projects")
}
