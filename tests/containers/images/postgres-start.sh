#!/bin/sh
# Initialise a fresh cluster in $PGDATA (a tmpfs) and run postgres in the foreground.
set -eu
PGDATA="${PGDATA:-/tmp/pgdata}"
bin="$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
printf '%s\n' "${POSTGRES_PASSWORD:?}" > /tmp/pwfile
"$bin/initdb" -D "$PGDATA" -U vwmp --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 >/dev/null
rm -f /tmp/pwfile
echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
"$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c fsync=off &
pid=$!
until "$bin/pg_isready" -h /tmp -U vwmp -q; do sleep 0.2; done
"$bin/createdb" -h /tmp -U vwmp vwmp
trap 'kill -TERM $pid' TERM INT
wait $pid
