#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running Parley: installs what is missing, builds,
# prepares a development setup in dev/ (self-signed certificate, SQLite database, an admin account
# whose password it prints) and runs parleyd in the foreground. Ctrl-C stops it cleanly.
# Environment: PARLEY_DOMAIN (default localhost), PARLEY_C2S_PORT (5222), PARLEY_TLS_PORT (5223).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
domain=${PARLEY_DOMAIN:-localhost}
"$root/contrib/install-deps.sh"
PARLEY_TARGETS="parleyd parleyctl" "$root/contrib/build.sh" "$root/build"

dev="$root/dev"
mkdir -p "$dev"
chmod 700 "$dev"
if [ ! -f "$dev/$domain.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain,DNS:*.$domain" \
    -keyout "$dev/$domain.key" -out "$dev/$domain.crt" 2>/dev/null
  chmod 600 "$dev/$domain.key"
fi
if [ ! -f "$dev/parley.toml" ]; then
  cat >"$dev/parley.toml" <<TOML
# Development configuration written by contrib/run-dev.sh (see conf/parley.toml for every key).
[server]
log_level = "info"
data_dir = "."
admins = ["admin@$domain"]

[[hosts]]
domain = "$domain"
tls_cert = "$domain.crt"
tls_key = "$domain.key"

[[listeners]]
type = "c2s"
port = ${PARLEY_C2S_PORT:-5222}

[[listeners]]
type = "c2s_tls"
port = ${PARLEY_TLS_PORT:-5223}

[storage]
path = "parley.db"
TOML
fi
ctl=("$root/build/parleyctl" --config "$dev/parley.toml")
if [ ! -f "$dev/admin-password" ]; then
  password=$(openssl rand -base64 18 | tr -d '/+=' | cut -c1-20)
  "${ctl[@]}" user add "admin@$domain" "$password" >/dev/null
  umask 077
  echo "$password" >"$dev/admin-password"
fi
echo "--------------------------------------------------------------------------"
echo " Parley is starting for $domain (certificate: self-signed, dev/$domain.crt)"
echo " admin account: admin@$domain   password: $(cat "$dev/admin-password")"
echo " more accounts: ${ctl[*]} user add alice@$domain PASSWORD"
echo " admin console: $root/build/parleyctl console --jid admin@$domain --host 127.0.0.1 --ca $dev/$domain.crt"
echo "--------------------------------------------------------------------------"
exec "$root/build/parleyd" --config "$dev/parley.toml"
