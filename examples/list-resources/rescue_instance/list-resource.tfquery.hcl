# rescues.tfquery.hcl, beside the configuration that has the provider block.
# terraform query                                   # lists the instances in rescue
# terraform query -generate-config-out=rescues.tf   # writes an import block and a resource for each

list "rescue_instance" "web" {
  provider         = rescue
  include_resource = true # the resource objects, for -generate-config-out

  config {
    name_regex = "^web-"
  }
}

# Nova: the rescues of every project that carry a label.
list "rescue_instance" "labelled" {
  provider = rescue
  limit    = 200

  config {
    metadata     = { team = "payments" }
    all_projects = true
  }
}
