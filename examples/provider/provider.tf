# OpenStack: the same attribute names and OS_* variables as terraform-provider-openstack.
provider "rescue" {
  openstack {
    cloud = "prod" # an entry of clouds.yaml (or OS_CLOUD)
  }
}

# libvirt: any libvirt host; rescue is done the way Nova's libvirt driver does it.
provider "rescue" {
  alias = "kvm"
  libvirt {
    uri = "qemu+ssh://root@hv3/system?keyfile=/home/ops/.ssh/id_ed25519"
  }
}
