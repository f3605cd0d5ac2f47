// Command terraform-provider-rescue is the Terraform provider that makes instance rescue declarative.
package main

import (
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/rescue-labs/terraform-provider-rescue/internal/provider"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	// provider.NewServer is the framework's server with a repair (see there), so it is served
	// as providerserver.Serve would serve the framework's own.
	var opts []tf6server.ServeOpt
	if debug {
		opts = append(opts, tf6server.WithManagedDebug())
	}
	newServer := provider.NewServer(provider.New(version))
	err := tf6server.Serve("registry.terraform.io/rescue-labs/rescue", func() tfprotov6.ProviderServer {
		s, err := newServer()
		if err != nil {
			log.Fatal(err.Error())
		}
		return s
	}, opts...)
	if cerr := provider.CloseAll(); cerr != nil {
		log.Printf("closing backend connections: %v", cerr)
	}
	if err != nil {
		log.Fatal(err.Error())
	}
}
