# A CI audit of every rescue of the project: a configuration without resources, planned on a
# schedule. It works while a server is in rescue, when the configuration that owns the server
# cannot be refreshed.
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

variable "max_rescue" {
  type        = string
  default     = "24h"
  description = "How long a rescue may last before the audit fails."
}

check "no_forgotten_rescues" {
  data "rescue_instances" "rescued" {
    in_rescue = true
  }

  assert {
    condition = alltrue([
      for i in data.rescue_instances.rescued.instances :
      i.rescued_at == null ? true : timecmp(timeadd(i.rescued_at, var.max_rescue), plantimestamp()) > 0
    ])
    error_message = "In rescue for more than ${var.max_rescue}: ${join(", ", [for i in data.rescue_instances.rescued.instances : "${i.name} (${i.id}, since ${i.rescued_at})" if i.rescued_at != null && timecmp(timeadd(i.rescued_at, var.max_rescue), plantimestamp()) <= 0])}"
  }
}

# Every rescue, for the CI log (terraform output -json rescues).
data "rescue_instances" "all_rescued" {
  in_rescue = true
}

output "rescues" {
  value = [for i in data.rescue_instances.all_rescued.instances : { name = i.name, id = i.id, since = i.rescued_at }]
}
