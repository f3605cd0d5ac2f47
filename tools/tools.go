// Package tools runs the documentation generator (make generate).
package tools

// Generate the docs/ folder from the provider schema, examples/ and templates/.
//go:generate go tool tfplugindocs generate --provider-dir .. --provider-name rescue --rendered-provider-name rescue
