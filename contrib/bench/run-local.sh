#!/usr/bin/env bash
# Runs parley-bench against a throwaway local parleyd:
#   1. a temporary directory with a self-signed certificate for "localhost" and a config listening on
#      127.0.0.1 with free ports (port 0; the ports are read from parleyd's "listener.ready" lines),
#      with the per-address limits raised so thousands of loopback connections are allowed;
#   2. BENCH_USERS accounts provisioned straight into its SQLite database;
#   3. parleyd started, then `idle` (N sessions held; server memory per session), `login` with all N
#      logins at once over STARTTLS, and the same over direct TLS; `chat` too when BENCH_CHAT_RATE is set;
#   4. parleyd stopped with SIGTERM, its exit status checked, and the directory removed (kept with
#      BENCH_KEEP=1).
#
# Usage: contrib/bench/run-local.sh [BUILD_DIR]     (default: build)
# Environment:
#   BENCH_USERS=1000         accounts / sessions (idle holds them all; login runs them all at once)
#   BENCH_CONCURRENCY=100    logins in flight for idle and chat
#   BENCH_LOGIN_CONCURRENCY= logins in flight for the login runs (default: BENCH_USERS, all at once)
#   BENCH_TIMEOUT=30         seconds allowed per login
#   BENCH_HOLD=5             seconds idle holds the sessions
#   BENCH_SETTLE=10          seconds between the last login and the memory reading (parleyd releases an
#                            idle session's XML parser after 3–8 s of silence)
#   BENCH_THREADS=1          client threads
#   BENCH_SOURCE_ADDRESSES=1 connect from 127.0.0.1 … 127.0.0.N
#   BENCH_CHAT_RATE=         messages/s for the chat scenario (unset: no chat run)
#   BENCH_CHAT_DURATION=10   seconds of chat
#   BENCH_MAM_MESSAGES=      messages for the mam scenario (unset: no mam run): bench0 sends them to
#                            bench1, whose archive is then paged through BENCH_MAM_PAGE (100) at a time
#   BENCH_MUC_RATE=          room messages/s for the muc scenario (unset: no muc run): BENCH_USERS users
#                            in BENCH_MUC_ROOMS (1) rooms, every one sending, for BENCH_CHAT_DURATION s
#   BENCH_SCENARIOS="idle login chat muc mam"  which scenarios to run (chat, muc and mam also need their
#                            knob)
#   BENCH_MODULES=           [modules] enabled list, verbatim (e.g. '"disco", "offline"'); unset: defaults
#   BENCH_NETWORK_THREADS=   [server] network_threads (unset: parleyd's default, one per CPU less one)
#   BENCH_CONFIG=            TOML appended to parleyd's config verbatim, for tables it does not write
#                            already (e.g. $'[modules.mam]\nindex_rows = 65536')
#   BENCH_IO_URING=          [server] io_uring ("true" or "false"; unset: parleyd's default, true)
#   BENCH_RELEASE_PARSER=    [c2s] release_parser ("after_read" or "when_idle"; unset: parleyd's default)
#   BENCH_RECORD_LAYER=      [tls] record_layer ("parley" or "openssl"; unset: parleyd's default, "parley")
#   BENCH_STANZA_RATE=       [limits] stanza_rate (and burst); default 50, or 1000000 with BENCH_MAM_MESSAGES
#   BENCH_MYSQL_SOCKET=      a MariaDB/MySQL Unix socket (user root, no password; contrib/with-mariadb.sh
#                            exports one as PARLEY_TEST_MYSQL): parleyd stores on a fresh database
#                            `parley_bench` there instead of SQLite; accounts are made with parleyctl
#   BENCH_PRELOAD=           a library LD_PRELOADed into parleyd (an allocator A/B, e.g.
#                            /usr/lib/x86_64-linux-gnu/libjemalloc.so.2)
#   BENCH_SERVER_CPUS=       pin parleyd to these CPUs (taskset -c list, e.g. 1); unset: not pinned
#   BENCH_CLIENT_CPUS=       pin parley-bench to these CPUs (e.g. 0); unset: not pinned
#   BENCH_LOG_LEVEL=info     parleyd's log level ("debug" adds the heap figures of each housekeeping round)
#   BENCH_KEEP=              1: keep the temporary directory (logs, config, reports)
# The JSON reports are printed at the end, one per line.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
BENCH="$BUILD/contrib/bench/parley-bench"
BENCH_RUN=(${BENCH_CLIENT_CPUS:+taskset -c "$BENCH_CLIENT_CPUS"} "$BENCH")
PARLEYD="$BUILD/parleyd"
PARLEYCTL="$BUILD/parleyctl"
for bin in "$BENCH" "$PARLEYD"; do
  [[ -x $bin ]] || { echo "run-local.sh: $bin not found; build first (see contrib/bench/README.md)" >&2; exit 1; }
done

USERS=${BENCH_USERS:-1000}
CONCURRENCY=${BENCH_CONCURRENCY:-100}
LOGIN_CONCURRENCY=${BENCH_LOGIN_CONCURRENCY:-$USERS}
TIMEOUT=${BENCH_TIMEOUT:-30}
HOLD=${BENCH_HOLD:-5}
THREADS=${BENCH_THREADS:-1}
SOURCES=${BENCH_SOURCE_ADDRESSES:-1}
CHAT_DURATION=${BENCH_CHAT_DURATION:-10}
SCENARIOS=" ${BENCH_SCENARIOS:-idle login chat muc mam} "
if [[ -n ${BENCH_MAM_MESSAGES:-} ]]; then STANZA_RATE=${BENCH_STANZA_RATE:-1000000}; else STANZA_RATE=${BENCH_STANZA_RATE:-50}; fi

# Each session is one descriptor in parleyd and one in parley-bench.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < USERS + 100 )); then
  echo "run-local.sh: ulimit -n is $(ulimit -n), too low for $USERS sessions" >&2
  exit 1
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")
PID=
cleanup() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "run-local.sh: kept $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

mkdir -p "$DIR/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,DNS:*.localhost" \
  -keyout "$DIR/data/localhost.key" -out "$DIR/data/localhost.crt" 2>/dev/null

cat >"$DIR/parley.toml" <<EOF
[server]
# info at least, because the listener.ready lines (with the ports) are logged at info.
log_level = "${BENCH_LOG_LEVEL:-info}"
data_dir = "data"
$([[ -n ${BENCH_NETWORK_THREADS:-} ]] && echo "network_threads = $BENCH_NETWORK_THREADS")
$([[ -n ${BENCH_IO_URING:-} ]] && echo "io_uring = $BENCH_IO_URING")

[[hosts]]
domain = "localhost"
tls_cert = "data/localhost.crt"
tls_key = "data/localhost.key"

[[listeners]]
type = "c2s"
address = "127.0.0.1"
port = 0

[[listeners]]
type = "c2s_tls"
address = "127.0.0.1"
port = 0

$([[ -n ${BENCH_RELEASE_PARSER:-} ]] && printf '[c2s]\nrelease_parser = "%s"\n' "$BENCH_RELEASE_PARSER")
$([[ -n ${BENCH_RECORD_LAYER:-} ]] && printf '[tls]\nrecord_layer = "%s"\n' "$BENCH_RECORD_LAYER")

[auth]
# Every benchmark connection comes from loopback: failed logins must not lock the others out.
failures_per_account_and_ip = 1000000
failures_per_ip = 1000000

[limits]
# The limits per remote address would refuse a benchmark (all its connections come from 127.0.0.x).
connections_per_ip = 100000
unauthenticated_per_ip = 100000
# Thousands of logins at once on a small machine may take longer than the default 30 s.
preauth_timeout = 120
# One sender filling an archive (mam) sends far more than a person would.
stanza_rate = $STANZA_RATE
stanza_burst = $STANZA_RATE

[storage]
$(if [[ -n ${BENCH_MYSQL_SOCKET:-} ]]; then
  printf 'backend = "mysql"\nsocket = "%s"\nuser = "root"\ndatabase = "parley_bench"\n' "$BENCH_MYSQL_SOCKET"
else
  printf 'path = "data/parley.db"\n'
fi)

[modules.muc]
# The muc scenario may put every benchmark user in one room.
max_occupants = 100000
default_max_occupants = 100000
EOF
if [[ -n ${BENCH_MODULES:-} ]]; then
  printf '\n[modules]\nenabled = [%s]\n' "$BENCH_MODULES" >>"$DIR/parley.toml"
fi
if [[ -n ${BENCH_CONFIG:-} ]]; then
  printf '\n%s\n' "$BENCH_CONFIG" >>"$DIR/parley.toml"
fi

echo "== provisioning $USERS accounts" >&2
if [[ -n ${BENCH_MYSQL_SOCKET:-} ]]; then
  mariadb -S "$BENCH_MYSQL_SOCKET" -u root -e \
    "DROP DATABASE IF EXISTS parley_bench; CREATE DATABASE parley_bench CHARACTER SET utf8mb4"
  for ((i = 0; i < USERS; i++)); do
    "$PARLEYCTL" --config "$DIR/parley.toml" user add "bench$i@localhost" bench-password >/dev/null
  done
else
  "$BENCH" provision --database "$DIR/data/parley.db" --users "$USERS" --threads 2 >"$DIR/provision.json"
fi

echo "== starting parleyd" >&2
env ${BENCH_PRELOAD:+LD_PRELOAD=$BENCH_PRELOAD} ${BENCH_SERVER_CPUS:+taskset -c "$BENCH_SERVER_CPUS"} "$PARLEYD" --config "$DIR/parley.toml" 2>"$DIR/parleyd.log" &
PID=$!
C2S_PORT=
TLS_PORT=
for _ in $(seq 1 300); do
  C2S_PORT=$(sed -n 's/.*listener\.ready type=c2s .*port=\([0-9]*\).*/\1/p' "$DIR/parleyd.log" | head -n1)
  TLS_PORT=$(sed -n 's/.*listener\.ready type=c2s_tls .*port=\([0-9]*\).*/\1/p' "$DIR/parleyd.log" | head -n1)
  [[ -n $C2S_PORT && -n $TLS_PORT ]] && break
  kill -0 "$PID" 2>/dev/null || { echo "run-local.sh: parleyd exited:" >&2; cat "$DIR/parleyd.log" >&2; exit 1; }
  sleep 0.1
done
if [[ -z $C2S_PORT || -z $TLS_PORT ]]; then
  echo "run-local.sh: parleyd did not report its listeners:" >&2
  cat "$DIR/parleyd.log" >&2
  exit 1
fi
echo "== parleyd pid $PID, c2s port $C2S_PORT, c2s_tls port $TLS_PORT" >&2

COMMON=(--host 127.0.0.1 --domain localhost --threads "$THREADS" --source-addresses "$SOURCES" --server-pid "$PID"
  --timeout "$TIMEOUT")

if [[ $SCENARIOS == *" idle "* ]]; then
  echo "== idle: $USERS sessions" >&2
  "${BENCH_RUN[@]}" idle "${COMMON[@]}" --port "$C2S_PORT" --users "$USERS" --concurrency "$CONCURRENCY" --hold "$HOLD" \
    --settle "${BENCH_SETTLE:-10}" >"$DIR/idle.json"
fi

if [[ $SCENARIOS == *" login "* ]]; then
  echo "== login: $USERS logins, $LOGIN_CONCURRENCY at once (STARTTLS)" >&2
  "${BENCH_RUN[@]}" login "${COMMON[@]}" --port "$C2S_PORT" --users "$USERS" --concurrency "$LOGIN_CONCURRENCY" \
    >"$DIR/login.json"

  echo "== login: $USERS logins, $LOGIN_CONCURRENCY at once (direct TLS)" >&2
  "${BENCH_RUN[@]}" login "${COMMON[@]}" --port "$TLS_PORT" --direct-tls --users "$USERS" --concurrency "$LOGIN_CONCURRENCY" \
    >"$DIR/login-direct-tls.json"
fi

if [[ -n ${BENCH_CHAT_RATE:-} && $SCENARIOS == *" chat "* ]]; then
  echo "== chat: $USERS users, $BENCH_CHAT_RATE msg/s for $CHAT_DURATION s" >&2
  "${BENCH_RUN[@]}" chat "${COMMON[@]}" --port "$C2S_PORT" --users "$USERS" --concurrency "$CONCURRENCY" \
    --rate "$BENCH_CHAT_RATE" --duration "$CHAT_DURATION" >"$DIR/chat.json"
fi

if [[ -n ${BENCH_MUC_RATE:-} && $SCENARIOS == *" muc "* ]]; then
  echo "== muc: $USERS users in ${BENCH_MUC_ROOMS:-1} room(s), $BENCH_MUC_RATE msg/s for $CHAT_DURATION s" >&2
  "${BENCH_RUN[@]}" muc "${COMMON[@]}" --port "$C2S_PORT" --users "$USERS" --concurrency "$CONCURRENCY" \
    --rooms "${BENCH_MUC_ROOMS:-1}" --rate "$BENCH_MUC_RATE" --duration "$CHAT_DURATION" >"$DIR/muc.json"
fi

if [[ -n ${BENCH_MAM_MESSAGES:-} && $SCENARIOS == *" mam "* ]]; then
  echo "== mam: $BENCH_MAM_MESSAGES messages into one archive, then paged ${BENCH_MAM_PAGE:-100} at a time" >&2
  "${BENCH_RUN[@]}" mam "${COMMON[@]}" --port "$C2S_PORT" --messages "$BENCH_MAM_MESSAGES" --page "${BENCH_MAM_PAGE:-100}" \
    >"$DIR/mam.json"
fi

echo "== stopping parleyd" >&2
kill -TERM "$PID"
STATUS=0
wait "$PID" || STATUS=$?
PID=
if (( STATUS != 0 )); then
  echo "run-local.sh: parleyd exited with status $STATUS; last log lines:" >&2
  tail -n 20 "$DIR/parleyd.log" >&2
fi
WARNINGS=$(grep -c -E '^[^ ]+ (warn|error) ' "$DIR/parleyd.log" || true)
echo "== parleyd exited with status $STATUS; $WARNINGS warning/error lines in its log" >&2

for f in provision idle login login-direct-tls chat muc mam; do
  [[ -f $DIR/$f.json ]] && cat "$DIR/$f.json"
done
exit "$STATUS"
