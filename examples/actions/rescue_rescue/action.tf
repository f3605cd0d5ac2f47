# Break-glass rescue of a Nova server, without state:
#   terraform apply -invoke=action.rescue_rescue.web
# The password comes from an ephemeral variable (TF_VAR_rescue_pass): it is never stored.
variable "rescue_pass" {
  type      = string
  ephemeral = true
}

action "rescue_rescue" "web" {
  config {
    instance_id   = "8c1e0f4a-3b0c-4d4e-9a55-0a3a3c1d2e11"
    image_id      = "f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001"
    admin_pass_wo = var.rescue_pass # required on Nova: an action has no outputs
    timeout       = "15m"
  }
}

# A libvirt domain from a rescue ISO on a SATA cdrom (no password: none on the config drive).
action "rescue_rescue" "db" {
  provider = rescue.kvm
  config {
    instance_id      = "db-1"
    image_id         = "/var/lib/libvirt/images/rescue.iso"
    device           = "cdrom"
    bus              = "sata"
    shutdown_timeout = "90s"
  }
}

# Rescue a fresh canary right after it is created, from its lifecycle.
resource "terraform_data" "canary" {
  input = var.canary_id
  lifecycle {
    action_trigger {
      events  = [after_create]
      actions = [action.rescue_rescue.canary]
    }
  }
}

variable "canary_id" {
  type = string
}

action "rescue_rescue" "canary" {
  config {
    instance_id   = var.canary_id
    admin_pass_wo = var.rescue_pass
  }
}
