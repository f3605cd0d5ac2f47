#!/usr/bin/env bash
# `make bench`: on the local real Nova (internal/acctest) with a 2 s server-side rescue, how long
# after the server reached RESCUE each waiter returns, and how many GET requests it spends:
# our engine (rescue.NewEngine + DefaultBackoff over internal/nova), a
# terraform-provider-openstack-shaped StateChangeConf (MinTimeout 3 s, with and without its
# usual Delay 10 s) and gophercloud's servers.WaitForStatus (1 s). Prints a table; the code is
# internal/acctest/bench. BENCH_ROUNDS (default 3) sets the rounds per waiter.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
/usr/bin/python3 -c 'import nova, placement, oslotest, wsgi_intercept' 2>/dev/null || {
  echo "bench: real Nova missing: run scripts/install-deps.sh" >&2; exit 1; }
cd internal/acctest/bench && exec go test . -run '^$' -bench BenchmarkRescueWaiters -benchtime 1x -count 1 -timeout 20m
