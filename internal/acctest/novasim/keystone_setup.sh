#!/bin/bash
# Create a throw-away Keystone (Debian python3-keystone, sqlite, fernet tokens) in
# $NOVA_STATE_DIR/keystone (default .state/keystone), bootstrap admin/admin.
# Called by internal/acctest (StartKeystone) with NOVA_STATE_DIR and KEYSTONE_PORT set.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${NOVA_STATE_DIR:-$here/.state}
mkdir -p "$state"; state=$(cd "$state" && pwd)
KS=$state/keystone
KEYSTONE_PORT=${KEYSTONE_PORT:-5000}
URL=http://127.0.0.1:$KEYSTONE_PORT/v3
command -v keystone-manage >/dev/null || { echo "keystone-manage missing: run scripts/install-deps.sh (apt-get install python3-keystone)" >&2; exit 1; }
rm -rf "$KS"; mkdir -p "$KS"
# keystone.conf needs absolute paths, so it is generated here, inside the state dir.
cat > "$KS/keystone.conf" <<CONF
[DEFAULT]
log_file = $KS/keystone.log
[database]
connection = sqlite:///$KS/keystone.db
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $KS/fernet-keys
[fernet_receipts]
key_repository = $KS/fernet-receipts
[credential]
key_repository = $KS/credential-keys
[cache]
enabled = false
CONF
user=$(id -un); group=$(id -gn)
# keystone-manage prints harmless "Exception ignored in: _removeHandlerRef" tracebacks
# (eventlet) at exit; its output goes to setup.out and is shown only on failure.
km() { keystone-manage --config-file "$KS/keystone.conf" "$@" >> "$KS/setup.out" 2>&1 ||
       { echo "keystone-manage $1 failed:" >&2; tail -30 "$KS/setup.out" >&2; exit 1; }; }
t0=$(date +%s%N)
km db_sync
km fernet_setup --keystone-user "$user" --keystone-group "$group"
km credential_setup --keystone-user "$user" --keystone-group "$group"
km bootstrap --bootstrap-password admin --bootstrap-username admin \
  --bootstrap-project-name admin --bootstrap-role-name admin \
  --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
  --bootstrap-admin-url "$URL" --bootstrap-public-url "$URL" --bootstrap-internal-url "$URL"
# Without WAL, concurrent requests get 500 "database is locked".
/usr/bin/python3 -c "import sqlite3, sys; print('journal_mode:', sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL').fetchone()[0])" "$KS/keystone.db"
echo "keystone db_sync+bootstrap took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
touch "$KS/setup-done"
