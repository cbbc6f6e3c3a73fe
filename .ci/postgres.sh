#!/usr/bin/env bash
# A local PostgreSQL for the event store tests (tests/test_eventstore.py), on a fresh Debian machine.
#
#   eval "$(.ci/postgres.sh)"      # then: make test
#
# Installs PostgreSQL if it is missing (apt-get, as root or with passwordless sudo), starts a
# cluster, creates the role and database `recsys`/`recsys_test`, and prints
#   export RECSYS_TEST_POSTGRES_URL=postgresql://recsys:recsys@127.0.0.1:PORT/recsys_test
# on stdout. Idempotent and quick when PostgreSQL is already up. Whatever goes wrong, it prints a
# warning on stderr, nothing on stdout, and exits 0: the PostgreSQL tests then skip, CI goes on.
set -uo pipefail

ROLE=recsys
PASSWORD=recsys
DATABASE=recsys_test

say() { echo "postgres.sh: $*" >&2; }
give_up() { say "WARNING: $* -- PostgreSQL tests will be skipped"; exit 0; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}

as_postgres() {
    cd / || return 1
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
    elif [ "$(id -un)" = postgres ]; then "$@"
    else sudo -n -u postgres "$@"; fi
}

install() {
    command -v pg_lsclusters >/dev/null && return 0
    command -v apt-get >/dev/null || return 1
    say "installing postgresql (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >&2 || return 1
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y -qq --no-install-recommends postgresql >&2
}

start_cluster() {  # prints the port of a running cluster
    local line version name port status
    line=$(pg_lsclusters --no-header 2>/dev/null | head -n 1)
    if [ -z "$line" ]; then
        version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
        [ -n "$version" ] || return 1
        say "creating cluster $version/main"
        as_root pg_createcluster "$version" main >&2 || return 1
        line=$(pg_lsclusters --no-header | head -n 1)
    fi
    read -r version name port status _ <<<"$line"
    if [ "$status" != online ]; then
        say "starting cluster $version/$name on port $port"
        as_root pg_ctlcluster "$version" "$name" start >&2 || return 1
    fi
    echo "$port"
}

sql() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -tAc "$1"; }

create_role_and_database() {
    [ "$(sql "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" = 1 ] ||
        sql "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2 || return 1
    [ "$(sql "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" = 1 ] ||
        as_postgres createdb -p "$PORT" -O "$ROLE" "$DATABASE" >&2 || return 1
}

install || give_up "PostgreSQL is not installed and cannot be (needs apt-get and root or sudo)"
PORT=$(start_cluster) || give_up "cannot start a PostgreSQL cluster"
for _ in $(seq 1 30); do  # the server may take a moment to accept connections
    as_postgres pg_isready -q -p "$PORT" && break
    sleep 0.5
done
create_role_and_database || give_up "cannot create role '$ROLE' and database '$DATABASE'"
URL="postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=5 psql "$URL" -tAc "SELECT 1" >/dev/null 2>&1 ||
    give_up "cannot connect as $ROLE over TCP on 127.0.0.1:$PORT"
say "PostgreSQL ready at postgresql://$ROLE:***@127.0.0.1:$PORT/$DATABASE"
echo "export RECSYS_TEST_POSTGRES_URL=$URL"
