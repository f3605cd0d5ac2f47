#!/usr/bin/env bash
# `make demo-openstack`: rescue a server of a real (local) Nova with Terraform and this provider.
#
#  1. starts Nova's own code (Debian python3-nova, internal/acctest/novasim) on free 127.0.0.1
#     ports, with a 2 s server-side rescue so the wait is visible, and boots a server;
#  2. terraform apply of a rescue_instance: returns when the server is really in RESCUE, the
#     generated rescue password is in state (sensitive: `terraform state show` masks it);
#  3. terraform destroy: unrescues, returns when the server is ACTIVE again;
#  4. stops Nova by PID and removes the temp dir, also on failure.
# Works offline: uses bin/terraform-provider-rescue (make build) through dev_overrides.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/demo-lib.sh"
provider_bin=$repo/bin/terraform-provider-rescue
terraform=${TF_ACC_TERRAFORM_PATH:-$(command -v terraform || true)}

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo-openstack: $*" >&2; exit 1; }

[ -x "$provider_bin" ] || die "$provider_bin missing: run make build (make demo-openstack does)"
if [ -z "$terraform" ] || [ ! -x "$terraform" ]; then die "terraform not found: run scripts/install-deps.sh"; fi

work=$(mktemp -d /tmp/rescue-demo-openstack.XXXXXX)
up=$work/novasim-up
tfdir=$work/tf
NOVA_PID=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -f "$tfdir/terraform.tfstate" ] && [ "${destroyed:-0}" != 1 ] && [ -n "$NOVA_PID" ]; then
    echo "demo-openstack: cleaning up: terraform destroy" >&2
    (cd "$tfdir" && timeout 120 "$terraform" destroy -auto-approve -no-color >/dev/null 2>&1) || true
  fi
  if [ -n "$NOVA_PID" ]; then
    say "Stopping Nova (pid $NOVA_PID)"
    "$up" down -pid "$NOVA_PID" || true
  fi
  rm -rf -- "$work"
  if [ $rc -eq 0 ]; then echo "demo-openstack: OK (Nova stopped, $work removed)"; else
    echo "demo-openstack: FAILED (exit $rc); Nova stopped, $work removed" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "Building the harness command"
(cd "$repo" && go build -o "$up" ./internal/acctest/cmd/novasim-up)

say "Starting Nova (Nova's own code from python3-nova) on 127.0.0.1"
t0=$(date +%s)
eval "$("$up" up -dir "$work/nova" -env NOVASIM_RESCUE_DELAY=2)"
echo "nova pid $NOVA_PID answering after $(( $(date +%s) - t0 )) s: compute $COMPUTE_URL  image $IMAGE_URL"

say "Booting a server"
server=$("$up" server-create -compute "$COMPUTE_URL" -name demo-web)
echo "server $server: $("$up" server-show -compute "$COMPUTE_URL" "$server")"

mkdir -p "$tfdir"
use_local_provider "$work" "$repo"
{ required_providers; cat <<EOF; } > "$tfdir/main.tf"

# noauth2 Nova: a token and the endpoints, no Keystone.
provider "rescue" {
  openstack {
    token = "admin:admin"
    endpoint_overrides = {
      compute = "$COMPUTE_URL"
      image   = "$IMAGE_URL"
    }
  }
}

resource "rescue_instance" "web" {
  instance_id = "$server"
}
EOF
say "Terraform configuration ($tfdir/main.tf)"
sed 's/^/    /' "$tfdir/main.tf"

say "terraform apply: rescue the server (Nova takes 2 s)"
t0=$(date +%s%N)
(cd "$tfdir" && "$terraform" apply -auto-approve -no-color)
echo "apply took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
st=$("$up" server-show -compute "$COMPUTE_URL" "$server")
echo "server $server in Nova: $st"
[ "$st" = "RESCUE -" ] || die "server is not in RESCUE after apply"

say "terraform state show (the rescue password is sensitive)"
(cd "$tfdir" && "$terraform" state show -no-color rescue_instance.web)
grep -q '"admin_pass": "' "$tfdir/terraform.tfstate" || die "no rescue password in state"

say "terraform destroy: unrescue the server"
(cd "$tfdir" && "$terraform" destroy -auto-approve -no-color)
destroyed=1
st=$("$up" server-show -compute "$COMPUTE_URL" "$server")
echo "server $server in Nova: $st"
[ "$st" = "ACTIVE -" ] || die "server is not ACTIVE after destroy"
