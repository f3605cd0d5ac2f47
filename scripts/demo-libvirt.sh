#!/usr/bin/env bash
# `make demo`: rescue a real QEMU guest with Terraform and this provider, on a private libvirtd.
#
#  1. starts a private system libvirtd (internal/acctest/libvirtd: own mount namespace, state in a
#     temp dir, nothing of the host's libvirt touched) and defines a tiny TCG guest "demo-web"
#     whose 512-byte boot sector prints "GUEST: BOOTED FROM <device>" to its debug console;
#  2. terraform apply of a rescue_instance (rescue ISO as a sata cdrom): the guest is shut down
#     over ACPI and boots the rescue ISO with its own disk still attached;
#  3. terraform destroy: the original definition is restored and the guest boots its own disk;
#  4. stops everything by PID and removes the temp dirs, also on failure.
# Needs root and the packages of scripts/install-deps.sh; uses bin/terraform-provider-rescue
# (make build) through dev_overrides, so nothing is downloaded.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/demo-lib.sh"
provider_bin=$repo/bin/terraform-provider-rescue
terraform=${TF_ACC_TERRAFORM_PATH:-$(command -v terraform || true)}
guest=demo-web

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (the private libvirtd runs in its own mount namespace)"
[ -x "$provider_bin" ] || die "$provider_bin missing: run make build (make demo does)"
if [ -z "$terraform" ] || [ ! -x "$terraform" ]; then die "terraform not found: run scripts/install-deps.sh"; fi
command -v virsh >/dev/null || die "virsh missing: run scripts/install-deps.sh"

work=$(mktemp -d /tmp/rescue-demo.XXXXXX)
state=$work/libvirtd
tfdir=$work/tf
up=$work/libvirtd-up

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -d "$tfdir" ] && [ -f "$tfdir/terraform.tfstate" ] && [ "${destroyed:-0}" != 1 ] && [ -n "${QEMU_URI:-}" ]; then
    echo "demo: cleaning up: terraform destroy" >&2
    (cd "$tfdir" && timeout 300 "$terraform" destroy -auto-approve -no-color >/dev/null 2>&1) || true
  fi
  if [ -x "$up" ] && [ -f "$state/sockdir" ]; then
    say "Stopping the private libvirtd"
    "$up" down -dir "$state" || true
  fi
  rm -rf -- "$work"
  if [ $rc -eq 0 ]; then echo "demo: OK (everything stopped, $work removed)"; else echo "demo: FAILED (exit $rc); everything stopped, $work removed" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

console() {   # the guest's debug console (SeaBIOS boot messages and the boot sector's lines)
  grep -aE 'Booting from|GUEST:|Boot failed' "$DBG_DIR/$guest.log" | sed 's/^/    console | /'
}
logsize() { stat -c %s "$DBG_DIR/$guest.log" 2>/dev/null || echo 0; }

say "Building the harness command"
(cd "$repo" && go build -o "$up" ./internal/acctest/cmd/libvirtd-up)

say "Starting a private libvirtd (state in $state)"
eval "$("$up" up -dir "$state")"
echo "libvirtd (tini) pid $LIBVIRTD_PID, URI $QEMU_URI"

say "Defining and starting the QEMU guest $guest"
"$up" define -dir "$state" -name "$guest" -machine pc -start
console
echo "disks of $guest:"
virsh -c "$QEMU_URI" domblklist "$guest" --details

mkdir -p "$tfdir"
use_local_provider "$work" "$repo"
{ required_providers; cat <<EOF; } > "$tfdir/main.tf"

provider "rescue" {
  libvirt {
    uri = "$QEMU_URI"
  }
}

resource "rescue_instance" "web" {
  instance_id      = "$guest"
  image_id         = "$RESCUE_ISO"
  device           = "cdrom"
  bus              = "sata"
  shutdown_timeout = "30s"
}

output "mode" { value = rescue_instance.web.mode }
EOF
say "Terraform configuration ($tfdir/main.tf)"
sed 's/^/    /' "$tfdir/main.tf"

say "terraform apply: rescue $guest from the rescue ISO"
virsh -c "$QEMU_URI" dumpxml --inactive --security-info "$guest" > "$work/before.xml"
mark=$(logsize)
(cd "$tfdir" && "$terraform" apply -auto-approve -no-color)
"$up" wait-boot -dir "$state" -name "$guest" -since "$mark" -want "RESCUE CDROM ISO" -timeout 60s
echo "guest console:"
console
echo "disks of $guest while in rescue (its own root disk is still attached):"
virsh -c "$QEMU_URI" domblklist "$guest" --details
blk=$(virsh -c "$QEMU_URI" domblklist "$guest" --details)
grep -q "$state/run-disks/$guest-root.qcow2" <<<"$blk" || die "the original root disk is not attached in rescue"
echo "boot order in the live definition:"
virsh -c "$QEMU_URI" dumpxml "$guest" | grep -E "<boot |<source file|<target dev" | sed 's/^/    /'

say "terraform destroy: unrescue $guest"
mark=$(logsize)
(cd "$tfdir" && "$terraform" destroy -auto-approve -no-color)
destroyed=1
"$up" wait-boot -dir "$state" -name "$guest" -since "$mark" -want "ORIGINAL ROOT DISK" -timeout 60s
echo "guest console:"
console
echo "disks of $guest after unrescue:"
virsh -c "$QEMU_URI" domblklist "$guest" --details
left=$(find "$IMAGES_DIR" -maxdepth 1 -name "$guest.rescue-*" -print)
[ -z "$left" ] || die "rescue overlay left behind after unrescue: $left"
virsh -c "$QEMU_URI" dumpxml --inactive --security-info "$guest" > "$work/after.xml"
diff -u "$work/before.xml" "$work/after.xml" || die "the restored definition differs from the original"
echo "the rescue overlay volume was removed; the restored definition is identical to the original"
