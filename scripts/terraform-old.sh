#!/usr/bin/env bash
# Builds the Terraform CLI of the smoke suite (the oldest version the provider supports, 1.5.7)
# once into a cache directory, with `go install` through the Go module proxy (about 2 minutes,
# nothing else is downloaded), and prints its path. Idempotent: a CLI already built is reused.
#   RESCUE_OLD_TERRAFORM_VERSION  the version (default 1.5.7)
#   RESCUE_CACHE_DIR              the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-rescue)
set -euo pipefail
version=${RESCUE_OLD_TERRAFORM_VERSION:-1.5.7}
cache=${RESCUE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-rescue}
dir=$cache/terraform-$version
if [ ! -x "$dir/terraform" ]; then
  echo "terraform-old: building Terraform $version into $dir (go install, about 2 minutes)" >&2
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/.build-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Outside this module (its go.mod must not decide Terraform's dependencies).
  (cd "$tmp" && GOBIN=$tmp GOFLAGS='' go install "github.com/hashicorp/terraform@v$version")
  mv -f "$tmp/terraform" "$dir/terraform"
fi
CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$dir/terraform" version >/dev/null
echo "$dir/terraform"
