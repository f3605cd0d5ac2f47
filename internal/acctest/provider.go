package acctest

import (
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
)

// ProviderFactories serves the provider in-process to the real Terraform CLI of the tests.
var ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"rescue": providerserver.NewProtocol6WithError(provider.New("test")()),
}
