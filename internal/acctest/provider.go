package acctest

import (
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
)

// ProviderFactories serves the provider in-process to the real Terraform CLI of the tests.
var ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"rescue": provider.NewServer(provider.New("test")),
}
