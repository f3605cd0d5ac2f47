package provider_test

import (
	"os"
	"strings"
	"testing"

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
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatalf("%s: %v (make generate)", name, err)
		}
		doc := string(b)
		_, schema, ok := strings.Cut(doc, "\n## Schema\n")
		if !ok {
			t.Fatalf("%s has no Schema section", page)
		}
		schema, _, _ = strings.Cut(schema, "\n## ")
		listed := strings.Count(schema, "\n- `")
		attrs := schemas.ActionSchemas[name].Schema.Block.Attributes
		if listed != len(attrs) {
			t.Errorf("%s lists %d attributes, the schema of %s has %d", page, listed, name, len(attrs))
		}
		for _, a := range attrs {
			if !strings.Contains(schema, "- `"+a.Name+"` (") || !strings.Contains(schema, a.Description) {
				t.Errorf("%s: attribute %s is missing or its description differs from the schema's:\n%s", page, a.Name, a.Description)
			}
		}
	}
}
