// Command terraform-provider-rescue is the Terraform provider that makes instance rescue declarative.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/rescue-labs/rescue",
		Debug:   debug,
	})
	if cerr := provider.CloseAll(); cerr != nil {
		log.Printf("closing backend connections: %v", cerr)
	}
	if err != nil {
		log.Fatal(err.Error())
	}
}
