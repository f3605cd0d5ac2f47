#!/usr/bin/env bash
# `make bench`, on the local real Nova (internal/acctest; the code is internal/acctest/bench):
#
# 1. The fleet table: N rescue_instance resources (for_each) applied and destroyed by the real
#    Terraform CLI with -parallelism=N against the provider binary, with a 3 s server-side
#    rescue, for the shared poller and for the per-instance poller (RESCUE_POLLER=per-instance):
#    server GETs, GETs per second, image GETs, wall time of apply and destroy, detection lag
#    p50/p95 (Nova's end of the rescue to Terraform's apply_complete), peak provider RSS, and
#    the ratios per-instance / shared. BENCH_N (default 1,20,100) lists the sizes.
# 2. The waiter table (BENCH_WAITERS=0 skips it): with a 2 s server-side rescue, how long after
#    the server reached RESCUE each waiter returns and how many GETs it spends: our engine, a
#    terraform-provider-openstack-shaped StateChangeConf (MinTimeout 3 s, with and without its
#    usual Delay 10 s) and gophercloud's servers.WaitForStatus (1 s). BENCH_ROUNDS (default 3).
# 3. The libvirt fleet table (BENCH_LIBVIRT=0 skips it), on the harness's private libvirtd with
#    QEMU/TCG boot-sector guests: N rescue_instance (for_each) applied and destroyed by the real
#    CLI, shared poller (events) vs per-instance: libvirt RPCs (counting proxy), wall times,
#    detection lag p50/p95 from the daemon's own events to Terraform's apply_complete, peak
#    provider RSS, ratios. BENCH_LIBVIRT_N (default 1,10,20) lists the sizes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
/usr/bin/python3 -c 'import nova, placement, oslotest, wsgi_intercept' 2>/dev/null || {
  echo "bench: real Nova missing: run scripts/install-deps.sh" >&2; exit 1; }
benches=BenchmarkFleet
if [ "${BENCH_WAITERS:-1}" != 0 ]; then
  benches="$benches|BenchmarkRescueWaiters"
fi
if [ "${BENCH_LIBVIRT:-1}" != 0 ]; then
  benches="$benches|BenchmarkLibvirtFleet"
fi
cd internal/acctest/bench && exec go test . -run '^$' -bench "^($benches)\$" -benchtime 1x -count 1 -timeout 90m
