package provider_test

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue/rescuetest"
)

// The action pages are written by hand (tfplugindocs reads schemas through the Terraform CLI on
// PATH, and only 1.14 and later report actions): each must list every attribute of its action
// with the schema's description, and nothing else.
func TestDocs_actionPagesMatchTheSchema(t *testing.T) {
	_, schemas := protoServer(t, rescuetest.New())
	for name, page := range map[string]string{
		"rescue_rescue":   "../../docs/actions/rescue.md",
		"rescue_unrescue": "../../docs/actions/unrescue.md",
	} {
		pageMatchesSchema(t, page, name, schemas.ActionSchemas[name].Schema.Block.Attributes)
	}
}

// The list resource's page is written by hand too (the CLI of this project, 1.11, does not
// report list resources): it must list every attribute of the list resource's config with the
// schema's description, and nothing else.
func TestDocs_listResourcePageMatchesTheSchema(t *testing.T) {
	_, schemas := protoServer(t, rescuetest.New())
	ls, ok := schemas.ListResourceSchemas["rescue_instance"]
	if !ok {
		t.Fatalf("no list resource schema for rescue_instance (have %v)", schemas.ListResourceSchemas)
	}
	pageMatchesSchema(t, "../../docs/list-resources/instance.md", "list rescue_instance", ls.Block.Attributes)
}

// pageMatchesSchema fails t unless the Schema section of the page lists exactly attrs, each as
// "- `name` (Type) description" with the schema's description.
func pageMatchesSchema(t *testing.T, page, name string, attrs []*tfprotov6.SchemaAttribute) {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("%s: %v (make generate)", name, err)
	}
	_, schema, ok := strings.Cut(string(b), "\n## Schema\n")
	if !ok {
		t.Fatalf("%s has no Schema section", page)
	}
	schema, _, _ = strings.Cut(schema, "\n## ")
	if listed := strings.Count(schema, "\n- `"); listed != len(attrs) {
		t.Errorf("%s lists %d attributes, the schema of %s has %d", page, listed, name, len(attrs))
	}
	for _, a := range attrs {
		if !strings.Contains(schema, "- `"+a.Name+"` (") || !strings.Contains(schema, a.Description) {
			t.Errorf("%s: attribute %s is missing or its description differs from the schema's:\n%s", page, a.Name, a.Description)
		}
	}
}
