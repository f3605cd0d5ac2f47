#!/usr/bin/env bash
# Installs what the tests and demos need on a fresh Debian 12 machine, only what is missing:
# Debian packages for real Nova/Keystone and a private libvirtd with QEMU, Terraform, and the
# Terraform 1.5.7 of the smoke suite (scripts/terraform-old.sh).
set -euo pipefail

pkgs=(
  # real Nova (Nova's own code) and Keystone
  python3-nova python3-placement python3-oslotest python3-wsgi-intercept python3-keystone
  python3-openstackclient curl
  # private libvirtd with QEMU (TCG), images
  libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils libvirt-clients
  genisoimage xorriso tini binutils
  # make lint
  shellcheck
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v terraform >/dev/null 2>&1 && [ ! -x "$HOME/go/bin/terraform" ]; then
  echo "install-deps: terraform not found; building it with go install (about 2 minutes)"
  go install github.com/hashicorp/terraform@v1.5.7
fi
# The smoke suite's oldest supported CLI (Terraform 1.5.7), built once into a cache directory.
"$(dirname "$0")/terraform-old.sh" >/dev/null
echo "install-deps: ok"
