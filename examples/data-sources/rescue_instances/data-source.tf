# Every web server that is broken, or already in rescue (its status changes with the rescue, so
# keeping it in the filter keeps the next plan empty).
data "rescue_instances" "broken_web" {
  name_regex = "^web-"
  status     = ["ERROR", "SHUTOFF", "RESCUE"]
}

resource "rescue_instance" "web" {
  for_each    = { for i in data.rescue_instances.broken_web.instances : i.id => i }
  instance_id = each.key
  image_id    = var.rescue_image
}

# In CI: fail the plan's checks when an instance has been in rescue for more than a day.
check "no_forgotten_rescues" {
  data "rescue_instances" "rescued" {
    in_rescue = true
  }
  assert {
    condition = alltrue([
      for i in data.rescue_instances.rescued.instances :
      i.rescued_at == null ? true : timecmp(timeadd(i.rescued_at, "24h"), plantimestamp()) > 0
    ])
    error_message = "In rescue for more than a day: ${join(", ", [for i in data.rescue_instances.rescued.instances : i.name if i.rescued_at != null && timecmp(timeadd(i.rescued_at, "24h"), plantimestamp()) <= 0])}"
  }
}
