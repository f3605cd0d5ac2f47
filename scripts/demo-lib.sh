# shellcheck shell=bash
# Shared by the demo scripts (sourced): Terraform set up to use bin/terraform-provider-rescue.

# use_local_provider WORKDIR REPO: a CLI config whose dev_overrides point at REPO/bin (nothing is
# downloaded), exported for the terraform commands that follow.
use_local_provider() {
  cat > "$1/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "rescue-labs/rescue" = "$2/bin"
  }
  direct {}
}
RC
  export TF_CLI_CONFIG_FILE=$1/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
}

# required_providers: the terraform block that names this provider.
required_providers() {
  cat <<'TF'
terraform {
  required_providers {
    rescue = { source = "rescue-labs/rescue" }
  }
}
TF
}
