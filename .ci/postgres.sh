#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback, for the storage and distributed-worker tests.
#
#   .ci/postgres.sh start DIR [URL_FILE]   install Debian's postgresql if missing, initdb a cluster in DIR,
#                                          start it on 127.0.0.1 on a free port, create a database, and print
#                                          its URL (also written to URL_FILE when given)
#   .ci/postgres.sh stop DIR               stop that server (DIR can then be deleted)
#
# Exit status 3 means PostgreSQL is not installed and could not be installed: callers skip, with that reason.
# The server runs as the `postgres` user when this runs as root (PostgreSQL refuses to run as root).
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit "${2:-1}"; }

bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    return 1
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get to install it" 3
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" 3
    echo "postgres.sh: installing Debian's postgresql package" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || die "apt-get could not install postgresql" 3
}

as_owner() {  # run a command as the user that owns the cluster
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local dir=$1 url_file=${2:-} bin port db=greenknobs_test
    bin=$(bindir) || { install_postgres; bin=$(bindir) || die "postgresql installed but initdb not found" 3; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server as" 3
        chown postgres "$dir"
    fi
    chmod 700 "$dir"
    # Trust on loopback only: a private, short-lived test cluster that no other host can reach.
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || die "initdb failed, see $dir/initdb.log"
    for _ in 1 2 3; do
        port=$(free_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" start >/dev/null; then
            break
        fi
        port=""
    done
    [ -n "$port" ] || die "the server did not start, see $dir/server.log"
    echo "$bin" >"$dir/bindir"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
    local url="postgresql://postgres@127.0.0.1:$port/$db"
    [ -n "$url_file" ] && echo "$url" >"$url_file"
    echo "$url"
}

stop() {
    local dir=$1
    [ -f "$dir/bindir" ] || exit 0
    as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

case "${1:-}" in
    start) [ $# -ge 2 ] || die "usage: $0 start DIR [URL_FILE]"; start "$2" "${3:-}" ;;
    stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) die "usage: $0 start DIR [URL_FILE] | stop DIR" ;;
esac
