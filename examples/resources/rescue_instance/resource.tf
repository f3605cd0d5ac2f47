# Rescue a broken Nova server with a stable-device rescue image; the password is generated.
resource "rescue_instance" "web" {
  instance_id = "8c1e0f4a-3b0c-4d4e-9a55-0a3a3c1d2e11"
  image_id    = "f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001" # has hw_rescue_device / hw_rescue_bus

  timeouts = {
    create = "15m"
    delete = "15m"
  }
}

output "rescue_password" {
  value     = rescue_instance.web.admin_pass
  sensitive = true
}

# Rescue a libvirt domain from a rescue ISO on a SATA cdrom, keeping every disk in its place.
resource "rescue_instance" "db" {
  provider         = rescue.kvm
  instance_id      = "web-1"
  image_id         = "/var/lib/libvirt/images/rescue.iso"
  device           = "cdrom"
  bus              = "sata"
  shutdown_timeout = "90s"
}
