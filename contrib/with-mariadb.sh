#!/usr/bin/env bash
# Runs a command with a private, throw-away MariaDB server:
#   contrib/with-mariadb.sh COMMAND [ARGS…]
# The server gets a fresh data directory under $TMPDIR (mariadb-install-db), listens only on a Unix
# socket in that directory (no TCP port, so nothing can clash with another server), and is stopped and
# deleted when the command ends, however it ends (exit, error, Ctrl-C, SIGTERM). The command sees:
#   PARLEY_TEST_MYSQL=/path/to/mysqld.sock   (user root, no password; tests create their own databases)
# The storage conformance tests and the MySQL integration tests use it; without it they skip loudly.
# Tuned for tests, not for durability: no binary log, no doublewrite, log flushed once a second.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS…]" >&2
  exit 2
fi

mariadbd=$(command -v mariadbd || command -v mysqld || true)
[ -x "$mariadbd" ] || mariadbd=/usr/sbin/mariadbd
install_db=$(command -v mariadb-install-db || command -v mysql_install_db || true)
if [ ! -x "$mariadbd" ] || [ -z "$install_db" ]; then
  echo "with-mariadb: mariadbd or mariadb-install-db not found (apt-get install mariadb-server)" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/parley-mariadb-XXXXXX")
sock="$dir/mysqld.sock"
pid=""
# mariadbd refuses to run as root unless told to; as anyone else --user must name that user.
user=$(id -un)

stop() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_args=(
  --no-defaults --user="$user" --datadir="$dir/data" --socket="$sock" --pid-file="$dir/mysqld.pid"
  --skip-networking --log-error="$dir/error.log" --skip-log-bin
  --character-set-server=utf8mb4 --collation-server=utf8mb4_nopad_bin
  --innodb-buffer-pool-size=64M --innodb-log-file-size=32M --innodb-flush-log-at-trx-commit=2
  --innodb-doublewrite=0 --skip-name-resolve --max-connections=500
)

"$install_db" --no-defaults --user="$user" --datadir="$dir/data" --auth-root-authentication-method=normal \
  --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1 || {
  echo "with-mariadb: mariadb-install-db failed:" >&2
  cat "$dir/install.log" >&2
  exit 1
}

# Started in the background of this shell so `wait` can reap it; setsid keeps a Ctrl-C aimed at the
# test command from reaching the server before stop() shuts it down in order.
setsid "$mariadbd" "${server_args[@]}" </dev/null >/dev/null 2>&1 &
pid=$!

# Ready when a client can log in over the socket (up to 60 s; usually about a second).
ready=0
for _ in $(seq 1 600); do
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  if mariadb --no-defaults --socket="$sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "with-mariadb: the server did not start; its log:" >&2
  cat "$dir/error.log" >&2 || true
  exit 1
fi

echo "with-mariadb: MariaDB $("$mariadbd" --version | awk '{print $3}') ready on $sock" >&2
export PARLEY_TEST_MYSQL="$sock"
# Not exec: the trap must run after the command to stop the server.
set +e
"$@"
status=$?
set -e
exit "$status"
