#!/usr/bin/env bash
# Runs the same parley-bench scenarios against Parley, Prosody and ejabberd in one run, on this machine,
# and prints a table with the ratios (issue 8). Everything is on loopback and bounded; every server is
# started by this script as the current user (its own config, data directory and ports in a temporary
# directory, never the system service) and stopped at the end, whatever happens (trap).
#
#   1. installs prosody and ejabberd (Debian 12 packages) when missing, as contrib/install-deps.sh does;
#   2. one self-signed certificate (EC P-256, CN=localhost, SAN localhost and *.localhost) for all three;
#   3. per server: config, start, provision the same accounts (bench0… with password bench-password),
#      run the scenarios CMP_REPEAT times each, stop;
#   4. prints one table (median of the repeats, and the spread min–max) and the JSON reports.
#
# Comparable settings on every server: STARTTLS required, message archive (XEP-0313) on with "always"
# as the default policy, stream management (XEP-0198) on, the MUC service at muc.localhost with no
# room-size limit below 100,000, no rate limits or traffic shaping on c2s, the default storage of each
# server (Parley: SQLite; Prosody: its internal file storage; ejabberd: Mnesia). The known traps are
# configured away: ejabberd's c2s listener backlog is raised from 5 to 4096 (a login burst would turn
# into 1-second SYN retries), Prosody's archive item-count cache is raised from 1,000 to 100,000
# entries (past ~1,000 active users its internal archive storage re-reads whole archive files on every
# message) and its per-archive item limit to 1,000,000.
# SASL: every server gets the strongest SCRAM it offers without channel binding for stored keys:
# Parley and ejabberd SCRAM-SHA-256 (ejabberd: auth_scram_hash sha256), Prosody 0.12 SCRAM-SHA-1 (its
# hashed storage only keeps SHA-1 keys). Each login is a full TLS handshake (no resumption).
#
# Usage: contrib/bench/compare.sh [BUILD_DIR]    (a RelWithDebInfo build without sanitizers:
#        cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=OFF; ninja parleyd parleyctl parley-bench)
# Environment (defaults in brackets):
#   CMP_SERVERS="parley prosody ejabberd"  which servers, in this order
#   CMP_SCENARIOS="idle login chat muc mam" which scenarios
#   CMP_REPEAT=2              runs of each measurement (the table shows the median and the spread)
#   CMP_IDLE_USERS=2000       idle sessions held on Prosody and ejabberd
#   CMP_PARLEY_IDLE_USERS=    idle sessions on Parley (default CMP_IDLE_USERS; 10000 for the budget)
#   CMP_IDLE_SETTLE=10        seconds between the last login and the memory reading
#   CMP_CONCURRENCY=100       logins in flight (idle, chat, muc)
#   CMP_LOGINS=1000           logins in the login scenario
#   CMP_LOGIN_CONCURRENCY=200 of which in flight at once
#   CMP_CHAT_USERS=1000       chat users (pairs of sender and receiver)
#   CMP_CHAT_RATES="50 100 250 500 1000 2000 4000 8000"  offered rates (msg/s) tried to find the peak: the highest with
#                             p99 < 50 ms, no loss and at least 95 % of the offered rate delivered
#   CMP_CHAT_DURATION=5       seconds per chat run
#   CMP_MUC_SIZES="100 1000"  room sizes (one room each)
#   CMP_MUC_DELIVERIES="1000 3000 10000"  offered deliveries per second (room messages/s = this /
#                             occupants), tried from the lowest until the server loses more than 0.1 %
#   CMP_MUC_DURATION=10       seconds of sending per muc run
#   CMP_MAM_MESSAGES=5000     messages archived then paged (page size CMP_MAM_PAGE=50, Prosody's maximum)
#   CMP_THREADS=1             parley-bench threads
#   CMP_QUIET=5               seconds before each login run (after the sessions of the previous scenario),
#                             and between the logins (and room joins) and the measured phase of chat
#                             and muc, so what the logins left to do is not counted as messaging cost
#   CMP_PARLEY_LOG_LEVEL=warn Parley's [server] log_level (the peers log warnings only)
#   CMP_TIMEOUT=60            seconds allowed per login (and per room join phase)
#   CMP_OUT=                  directory for the reports (default: a new one under /tmp, kept)
#   CMP_KEEP=                 1: keep the servers' temporary directories (configs, logs, data)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-build}" && pwd)
BENCH="$BUILD/contrib/bench/parley-bench"
PARLEYD="$BUILD/parleyd"
for bin in "$BENCH" "$PARLEYD"; do
  [[ -x $bin ]] || { echo "compare.sh: $bin not found; build first (see contrib/bench/README.md)" >&2; exit 1; }
done
if grep -q -a '__asan_init' "$PARLEYD" 2>/dev/null; then
  echo "compare.sh: warning: $PARLEYD is an ASan build; measure a RelWithDebInfo build without sanitizers" >&2
fi

SERVERS=${CMP_SERVERS:-parley prosody ejabberd}
SCENARIOS=" ${CMP_SCENARIOS:-idle login chat muc mam} "
REPEAT=${CMP_REPEAT:-2}
IDLE_USERS=${CMP_IDLE_USERS:-2000}
PARLEY_IDLE_USERS=${CMP_PARLEY_IDLE_USERS:-$IDLE_USERS}
IDLE_SETTLE=${CMP_IDLE_SETTLE:-10}
CONCURRENCY=${CMP_CONCURRENCY:-100}
LOGINS=${CMP_LOGINS:-1000}
LOGIN_CONCURRENCY=${CMP_LOGIN_CONCURRENCY:-200}
CHAT_USERS=${CMP_CHAT_USERS:-1000}
CHAT_RATES=${CMP_CHAT_RATES:-50 100 250 500 1000 2000 4000 8000}
CHAT_DURATION=${CMP_CHAT_DURATION:-5}
MUC_SIZES=${CMP_MUC_SIZES:-100 1000}
MUC_DELIVERIES=${CMP_MUC_DELIVERIES:-1000 3000 10000}
MUC_DURATION=${CMP_MUC_DURATION:-10}
MAM_MESSAGES=${CMP_MAM_MESSAGES:-5000}
MAM_PAGE=${CMP_MAM_PAGE:-50}
THREADS=${CMP_THREADS:-1}
QUIET=${CMP_QUIET:-5}
# The peers log warnings only (Prosody: warn, ejabberd: loglevel warning); Parley's default, info,
# writes a few lines per login.
PARLEY_LOG_LEVEL=${CMP_PARLEY_LOG_LEVEL:-warn}
TIMEOUT=${CMP_TIMEOUT:-60}
DOMAIN=localhost
MUC_SERVICE=muc.localhost

# Accounts: bench0 … bench<N-1> for the scenarios, then one fresh pair per mam run (bench<N>…).
max() { local m=$1; shift; for v in "$@"; do (( v > m )) && m=$v; done; echo "$m"; }
MUC_MAX=$(max $MUC_SIZES)
BASE_USERS=$(max "$IDLE_USERS" "$PARLEY_IDLE_USERS" "$LOGINS" "$CHAT_USERS" "$MUC_MAX")
MAM_FIRST=$BASE_USERS
ACCOUNTS=$((BASE_USERS + 2 * REPEAT))
# The peers hold fewer idle sessions: they need fewer accounts (the mam pairs keep their numbers).
PEER_USERS=$(max "$IDLE_USERS" "$LOGINS" "$CHAT_USERS" "$MUC_MAX")
peer_accounts() {
  local i
  for ((i = 0; i < PEER_USERS; i++)); do echo "$i"; done
  for ((i = MAM_FIRST; i < ACCOUNTS; i++)); do echo "$i"; done
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < BASE_USERS + 200 )); then
  echo "compare.sh: ulimit -n is $(ulimit -n), too low for $BASE_USERS sessions" >&2
  exit 1
fi

# ---- 1. packages ----
missing=()
for p in prosody lua-unbound ejabberd openssl python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
  echo "compare.sh: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  # The packages' own services must not start: this script runs private instances.
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

TOP=$(mktemp -d "${TMPDIR:-/tmp}/parley-compare.XXXXXX")
OUT=${CMP_OUT:-$TOP/reports}
mkdir -p "$OUT"
PIDS=()        # servers started by this script (killed by the trap if still running)
EJ_CTL=""      # ejabberdctl wrapper of the running ejabberd, if any
cleanup() {
  set +e
  if [[ -n $EJ_CTL ]]; then timeout 30 "$EJ_CTL" stop >/dev/null 2>&1; fi
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null; fi
  done
  sleep 1
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
  done
  if [[ -n ${CMP_KEEP:-} ]]; then
    echo "compare.sh: kept $TOP" >&2
  else
    find "$TOP" -mindepth 1 -maxdepth 1 ! -name reports -exec rm -rf {} +
    rmdir "$TOP" 2>/dev/null  # empty when the reports went to CMP_OUT
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # port pid seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
note() { echo "== $*" >&2; }

# ---- 2. the certificate ----
CERT=$TOP/cert
mkdir -p "$CERT"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=$DOMAIN" \
  -addext "subjectAltName=DNS:$DOMAIN,DNS:*.$DOMAIN" \
  -keyout "$CERT/$DOMAIN.key" -out "$CERT/$DOMAIN.crt" 2>/dev/null
cat "$CERT/$DOMAIN.crt" "$CERT/$DOMAIN.key" >"$CERT/$DOMAIN.pem"
chmod 600 "$CERT"/*

# ---- 3. the servers ----
SERVER_PID=     # the process whose CPU and memory are measured
C2S_PORT=
MECHANISM=

start_parley() {
  local dir=$TOP/parley
  mkdir -p "$dir/data"
  cp "$CERT/$DOMAIN.crt" "$CERT/$DOMAIN.key" "$dir/data/"
  C2S_PORT=$(free_port)
  cat >"$dir/parley.toml" <<EOF
[server]
log_level = "$PARLEY_LOG_LEVEL"
data_dir = "data"

[[hosts]]
domain = "$DOMAIN"
tls_cert = "data/$DOMAIN.crt"
tls_key = "data/$DOMAIN.key"

[[listeners]]
type = "c2s"
address = "127.0.0.1"
port = $C2S_PORT

[c2s]
require_tls = true

[auth]
failures_per_account_and_ip = 1000000
failures_per_ip = 1000000

[limits]
# Every benchmark connection comes from 127.0.0.1; the peers have no such limits configured either.
connections_per_ip = 100000
unauthenticated_per_ip = 100000
preauth_timeout = 120
stanza_rate = 100000
stanza_burst = 100000

[storage]
path = "data/parley.db"

[modules.mam]
default = "always"

[modules.muc]
max_occupants = 100000
default_max_occupants = 100000
EOF
  note "parley: provisioning $ACCOUNTS accounts"
  "$BENCH" provision --database "$dir/data/parley.db" --domain "$DOMAIN" --users "$ACCOUNTS" --threads 2 \
    --json-only >"$dir/provision.json"
  launch_parley
}

launch_parley() {
  local dir=$TOP/parley
  (cd "$dir" && exec "$PARLEYD" --config "$dir/parley.toml" 2>>"$dir/parleyd.log") &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_port "$C2S_PORT" "$SERVER_PID" 60 || { tail -n 20 "$dir/parleyd.log" >&2; return 1; }
  MECHANISM=SCRAM-SHA-256
}

stop_parley() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local status=0
  wait "$SERVER_PID" || status=$?
  note "parley: exited with status $status"
}

start_prosody() {
  local dir=$TOP/prosody
  mkdir -p "$dir/data" "$dir/certs"
  cp "$CERT/$DOMAIN.crt" "$CERT/$DOMAIN.key" "$dir/certs/"
  C2S_PORT=$(free_port)
  cat >"$dir/prosody.cfg.lua" <<EOF
-- Generated by contrib/bench/compare.sh: a private Prosody for the benchmark.
$( [[ $(id -u) -eq 0 ]] && echo 'run_as_root = true' )
daemonize = false
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
admin_socket = "$dir/admin.sock"
log = { warn = "$dir/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $C2S_PORT }
c2s_direct_tls_ports = { }
s2s_ports = { }
modules_disabled = { "s2s" }
modules_enabled = {
  "disco"; "roster"; "saslauth"; "tls"; "blocklist"; "bookmarks"; "carbons"; "pep"; "private";
  "smacks"; "vcard4"; "vcard_legacy"; "csi_simple"; "ping"; "time"; "uptime"; "version";
  "lastactivity"; "offline"; "mam"; "admin_shell";
}
-- No "limits" (c2s rate limiting): Parley's and ejabberd's are off for the benchmark too.
c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
-- XEP-0313: archive everything by default, as the other two do.
default_archive_policy = true
archive_expires_after = "never"
-- The 0.12 defaults (cache of 1,000 archives' item counts, 10,000 items per archive) make the internal
-- archive re-read whole files past ~1,000 active users and refuse messages past 10,000 per user.
storage_archive_item_limit_cache_size = 100000
storage_archive_item_limit = 1000000
c2s_timeout = 300

VirtualHost "$DOMAIN"
  ssl = { certificate = "$dir/certs/$DOMAIN.crt"; key = "$dir/certs/$DOMAIN.key"; }

-- No mod_muc_mam: Parley and ejabberd (default room options) do not archive rooms either.
Component "$MUC_SERVICE" "muc"
  muc_room_default_history_length = 20
  ssl = { certificate = "$dir/certs/$DOMAIN.crt"; key = "$dir/certs/$DOMAIN.key"; }
EOF
  launch_prosody || return 1
  note "prosody: provisioning $(peer_accounts | wc -l) accounts (prosodyctl shell, user:create)"
  local i
  peer_accounts | while read -r i; do
    echo "user:create(\"bench$i@$DOMAIN\", \"bench-password\")"
  done | prosodyctl --config "$dir/prosody.cfg.lua" shell >"$dir/provision.log" 2>&1
  local made
  made=$(find "$dir/data" -path '*accounts*' -name '*.dat' | wc -l)
  note "prosody: $made account files"
  (( made >= $(peer_accounts | wc -l) )) || { tail -5 "$dir/provision.log" >&2; return 1; }
  MECHANISM=SCRAM-SHA-1
}

launch_prosody() {
  local dir=$TOP/prosody
  prosody --config "$dir/prosody.cfg.lua" >>"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_port "$C2S_PORT" "$SERVER_PID" 60 || { tail -n 20 "$dir/stdout.log" "$dir/prosody.log" >&2; return 1; }
  for _ in $(seq 1 100); do [[ -S $dir/admin.sock ]] && break; sleep 0.1; done
  MECHANISM=SCRAM-SHA-1
}

stop_prosody() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local status=0
  wait "$SERVER_PID" || status=$?
  note "prosody: exited with status $status"
}

start_ejabberd() {
  local dir=$TOP/ejabberd
  mkdir -p "$dir/spool" "$dir/logs"
  cp "$CERT/$DOMAIN.pem" "$dir/"
  : >"$dir/inetrc"  # read by erl (ERL_INETRC); empty: the system resolver
  C2S_PORT=$(free_port)
  # Debian's ejabberdctl switches to the "ejabberd" user when run as root; this private copy runs the
  # node as the current user with this directory's config, spool and logs.
  sed 's/^INSTALLUSER=ejabberd$/INSTALLUSER=/' /usr/sbin/ejabberdctl >"$dir/ejabberdctl"
  chmod +x "$dir/ejabberdctl"
  cat >"$dir/ejabberd.yml" <<EOF
# Generated by contrib/bench/compare.sh: a private ejabberd for the benchmark.
hosts: ["$DOMAIN"]
loglevel: warning
log_rotate_count: 0
certfiles: ["$dir/$DOMAIN.pem"]
listen:
  - port: $C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    # The default backlog is 5: a login burst would wait in 1-second SYN retries.
    backlog: 4096
    max_stanza_size: 262144
    access: c2s
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
acl:
  loopback:
    ip: ["127.0.0.0/8"]
access_rules:
  local:
    allow: all
  c2s:
    allow: all
  register:
    deny: all
  muc_create:
    allow: all
  muc:
    allow: all
modules:
  mod_adhoc: {}
  mod_blocking: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_disco: {}
  mod_last: {}
  mod_mam:
    # XEP-0313: archive everything by default, as the other two do (ejabberd's default is "never").
    default: always
  mod_muc:
    host: "$MUC_SERVICE"
    access: muc
    access_create: muc_create
    access_persistent: muc_create
    max_users: 100000
    history_size: 20
    default_room_options:
      max_users: 100000
      mam: false
  mod_offline: {}
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_roster: {}
  mod_stream_mgmt: {}
  mod_time: {}
  mod_vcard: {}
  mod_version: {}
EOF
  launch_ejabberd || return 1
  note "ejabberd: provisioning $(peer_accounts | wc -l) accounts (XEP-0227 file through ejabberdctl import_piefxis)"
  {
    echo "<?xml version='1.0' encoding='UTF-8'?>"
    echo "<server-data xmlns='urn:xmpp:pie:0'><host jid='$DOMAIN'>"
    local i
    peer_accounts | while read -r i; do echo "<user name='bench$i' password='bench-password'/>"; done
    echo "</host></server-data>"
  } >"$dir/users.xml"
  "$EJ_CTL" import_piefxis "$dir/users.xml" >"$dir/provision.log" 2>&1 || { cat "$dir/provision.log" >&2; return 1; }
  local made
  made=$("$EJ_CTL" registered_users "$DOMAIN" | wc -l)
  note "ejabberd: $made accounts"
  (( made >= $(peer_accounts | wc -l) )) || return 1
  MECHANISM=SCRAM-SHA-256
}

launch_ejabberd() {
  local dir=$TOP/ejabberd
  # A fresh Erlang distribution port for every start (no epmd; ejabberdctl talks to the node through it).
  cat >"$dir/ejabberdctl.cfg" <<EOF
ERLANG_NODE=bench-ejabberd-$$@localhost
ERL_DIST_PORT=$(free_port)
INET_DIST_INTERFACE=127.0.0.1
ERL_MAX_PORTS=65536
EJABBERD_BYPASS_WARNINGS=true
EOF
  EJ_CTL_ARGS=(--config-dir "$dir" --config "$dir/ejabberd.yml" --ctl-config "$dir/ejabberdctl.cfg"
    --spool "$dir/spool" --logs "$dir/logs")
  "$dir/ejabberdctl" "${EJ_CTL_ARGS[@]}" foreground >>"$dir/stdout.log" 2>&1 &
  local ctl_pid=$!
  PIDS+=("$ctl_pid")
  # The node is the beam.smp process under the ejabberdctl script (erl execs it).
  SERVER_PID=
  for _ in $(seq 1 300); do
    SERVER_PID=$(pgrep -f -- "bench-ejabberd-$$@localhost" | while read -r p; do
      [[ $(cat "/proc/$p/comm" 2>/dev/null) == beam.smp ]] && echo "$p"; done | head -n1)
    [[ -n $SERVER_PID ]] && break
    sleep 0.1
  done
  [[ -n $SERVER_PID ]] || { tail -n 20 "$dir/stdout.log" >&2; return 1; }
  PIDS+=("$SERVER_PID")
  wait_port "$C2S_PORT" "$SERVER_PID" 120 || { tail -n 20 "$dir/stdout.log" "$dir/logs/ejabberd.log" >&2; return 1; }
  EJ_CTL="$dir/ejabberdctl-run"
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$dir/ejabberdctl" "${EJ_CTL_ARGS[*]}" >"$EJ_CTL"
  chmod +x "$EJ_CTL"
  "$EJ_CTL" started >/dev/null
  MECHANISM=SCRAM-SHA-256
}

stop_ejabberd() {
  timeout 60 "$EJ_CTL" stop >/dev/null 2>&1 || true
  EJ_CTL=""
  for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" || true; fi
  note "ejabberd: stopped"
}

# ---- 4. the scenarios ----
run() {  # server label scenario args…  → $OUT/<server>-<label>.json
  local server=$1 label=$2 scenario=$3
  shift 3
  note "$server: $label"
  local status=0
  "$BENCH" "$scenario" --host 127.0.0.1 --port "$C2S_PORT" --domain "$DOMAIN" --mechanism "$MECHANISM" \
    --threads "$THREADS" --timeout "$TIMEOUT" --server-pid "$SERVER_PID" "$@" \
    >"$OUT/$server-$label.json" 2>"$OUT/$server-$label.log" || status=$?
  sed -n '/^logins:/,$p' "$OUT/$server-$label.log" | sed 's/^/     /' >&2
  (( status == 0 )) || note "$server: $label exited with status $status"
  kill -0 "$SERVER_PID" 2>/dev/null || { note "$server died during $label"; return 1; }
}

chat_ok() {  # report rate → 0 when p99 < 50 ms, nothing lost and ≥ 95 % of the offered rate delivered
  python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
ok = r["lost"] == 0 and r["latency_ms"]["p99"] < 50 and r["delivered_per_second"] >= 0.95 * float(sys.argv[2])
sys.exit(0 if ok else 1)
EOF
}

muc_ok() {  # report → 0 when at most 0.1 % of the deliveries were lost
  python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
sys.exit(0 if r["deliveries_expected"] > 0 and r["lost"] <= 0.001 * r["deliveries_expected"] else 1)
EOF
}

scenarios_for() {
  local s=$1 rep rate size deliveries
  local idle_users=$IDLE_USERS
  [[ $s == parley ]] && idle_users=$PARLEY_IDLE_USERS
  if [[ $SCENARIOS == *" idle "* ]]; then
    for ((rep = 1; rep <= REPEAT; rep++)); do
      # A freshly started server each time: memory freed by an earlier run stays in the allocator (or
      # the Lua and Erlang heaps) and would make the next run look cheaper than it is.
      if (( rep > 1 )); then
        "stop_$s"
        "launch_$s" || return 1
      fi
      sleep 2
      run "$s" "idle-$rep" idle --users "$idle_users" --concurrency "$CONCURRENCY" --settle "$IDLE_SETTLE" \
        --hold 2 || return 1
    done
  fi
  if [[ $SCENARIOS == *" login "* ]]; then
    for ((rep = 1; rep <= REPEAT; rep++)); do
      # What the sessions before ended left to do (unavailable presence, last-activity writes, freeing
      # their memory) is not the cost of these logins.
      sleep "$QUIET"
      run "$s" "login-$rep" login --users "$LOGINS" --concurrency "$LOGIN_CONCURRENCY" || return 1
    done
  fi
  if [[ $SCENARIOS == *" chat "* ]]; then
    local peak=0
    for rate in $CHAT_RATES; do
      run "$s" "chat-peak-$rate" chat --users "$CHAT_USERS" --concurrency "$CONCURRENCY" --rate "$rate" \
        --duration "$CHAT_DURATION" --quiet "$QUIET" || return 1
      if chat_ok "$OUT/$s-chat-peak-$rate.json" "$rate"; then peak=$rate; else break; fi
    done
    echo "$peak" >"$OUT/$s-chat-peak.txt"
    # Half the peak; a server that met the latency bound at no rate is measured at the lowest one.
    local half=$((peak / 2))
    (( half > 0 )) || half=${CHAT_RATES%% *}
    echo "$half" >"$OUT/$s-chat-half-rate.txt"
    for ((rep = 1; rep <= REPEAT; rep++)); do
      run "$s" "chat-half-$rep" chat --users "$CHAT_USERS" --concurrency "$CONCURRENCY" --rate "$half" \
        --duration "$CHAT_DURATION" --quiet "$QUIET" || return 1
    done
  fi
  if [[ $SCENARIOS == *" muc "* ]]; then
    for size in $MUC_SIZES; do
      # Offered deliveries/s from the lowest: the figures of the highest rate the server delivered
      # (≤ 0.1 % lost) in every repeat are the ones compared; an overloaded server's CPU per delivery
      # means little (work still queued when the run ends).
      local sustained=0
      for deliveries in $MUC_DELIVERIES; do
        rate=$(python3 -c "print(max(0.1, $deliveries / $size))")
        local all_ok=1
        for ((rep = 1; rep <= REPEAT; rep++)); do
          # A fresh room for every run: history from an earlier run would be counted as deliveries.
          run "$s" "muc$size-$deliveries-$rep" muc --users "$size" --rooms 1 --service "$MUC_SERVICE" \
            --room-prefix "r$size-$deliveries-$rep-" --concurrency "$CONCURRENCY" --rate "$rate" \
            --duration "$MUC_DURATION" --quiet "$QUIET" || return 1
          muc_ok "$OUT/$s-muc$size-$deliveries-$rep.json" || all_ok=0
        done
        (( all_ok )) || break
        sustained=$deliveries
      done
      echo "$sustained" >"$OUT/$s-muc$size-sustained.txt"
    done
  fi
  if [[ $SCENARIOS == *" mam "* ]]; then
    for ((rep = 1; rep <= REPEAT; rep++)); do
      run "$s" "mam-$rep" mam --first $((MAM_FIRST + 2 * (rep - 1))) --messages "$MAM_MESSAGES" \
        --page "$MAM_PAGE" || return 1
    done
  fi
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "parley: $(git -C "$BUILD" describe --always --dirty 2>/dev/null || echo '?') ($BUILD)"
  echo "prosody: $(dpkg-query -W -f='${Version}' prosody 2>/dev/null)"
  echo "ejabberd: $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null), erlang $(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null)"
  echo "settings: repeat=$REPEAT idle=$IDLE_USERS parley_idle=$PARLEY_IDLE_USERS logins=$LOGINS@$LOGIN_CONCURRENCY chat_users=$CHAT_USERS rates='$CHAT_RATES' muc='$MUC_SIZES'@'$MUC_DELIVERIES'/s mam=$MAM_MESSAGES/$MAM_PAGE"
} >"$OUT/run.txt"
cat "$OUT/run.txt" >&2

FAILED=()
for s in $SERVERS; do
  note "$s: starting"
  if ! "start_$s"; then
    FAILED+=("$s (start)")
    "stop_$s" || true
    continue
  fi
  note "$s: pid $SERVER_PID, c2s port $C2S_PORT, $MECHANISM"
  echo "$s: $MECHANISM, pid $SERVER_PID ($(cat "/proc/$SERVER_PID/comm"))" >>"$OUT/run.txt"
  scenarios_for "$s" || FAILED+=("$s")
  "stop_$s" || true
done

python3 "$HERE/compare_table.py" "$OUT" $SERVERS
(( ${#FAILED[@]} == 0 )) || { echo "compare.sh: failed: ${FAILED[*]}" >&2; exit 1; }
echo "compare.sh: reports in $OUT" >&2
