# The configuration that owns the servers (terraform-provider-openstack). Nothing in it refers to
# the rescue: the rescue lives in the incident configuration.
resource "openstack_compute_instance_v2" "web" {
  count       = 3
  name        = "web-${count.index}"
  image_name  = "debian-12"
  flavor_name = "m1.small"
  tags        = ["web"]

  # A rescue ends with the server ACTIVE, whatever it was before (an unrescue starts it). If
  # the configuration says power_state = "shutoff", the next apply would stop it again; ignore
  # the power state when the operators, not Terraform, decide whether it runs.
  power_state = "active"

  lifecycle {
    ignore_changes = [
      power_state,
      # The incident process marks broken servers with a metadata key that the incident
      # configuration filters on; Terraform must not remove it.
      metadata["incident"],
    ]
  }
}
