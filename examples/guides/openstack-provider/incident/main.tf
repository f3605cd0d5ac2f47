# The incident configuration: its own state, applied when the incident starts, destroyed when it
# ends. It finds the servers by the tag and metadata key that the servers configuration and the
# incident process set; no remote state of the servers configuration is needed.
terraform {
  required_providers {
    rescue = { source = "rescue-labs/rescue" }
  }
}

provider "rescue" {
  openstack {
    cloud = "prod"
  }
}

variable "incident" {
  type        = string
  description = "The incident id the broken servers are marked with (metadata incident=<id>)."
}

variable "rescue_image" {
  type        = string
  description = "The Glance image to rescue with."
}

# Filtered by the incident's marker, not by status: a rescued server's status becomes RESCUE,
# and a filter on ERROR alone would drop it from the next plan, which would then unrescue it.
data "rescue_instances" "broken" {
  tags     = ["web"]
  metadata = { incident = var.incident }
}

resource "rescue_instance" "web" {
  for_each    = { for i in data.rescue_instances.broken.instances : i.id => i }
  instance_id = each.key
  image_id    = var.rescue_image
}

output "rescued" {
  value = [for i in data.rescue_instances.broken.instances : i.name]
}
