# Sourced by scripts/test and scripts/bench: starts a throwaway PostgreSQL in
# $1 (a directory) as an unprivileged user when root, and exports
# WEBOPS_TEST_DATABASE_URL (fsync off unless WEBOPS_PG_FSYNC=on: benchmarks
# of durable writes set it). pg_stop_private stops it.
pg_start_private() {
  local dir=$1
  pg_dir=$dir
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -x "$pg_bin/initdb" ] || { echo "initdb not found: install postgresql" >&2; return 1; }
  pg_as=
  if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$dir"
    chown postgres "$dir"
    pg_as="runuser -u postgres --"
  fi
  $pg_as "$pg_bin/initdb" -D "$dir/pg" -U webops --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  $pg_as "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
    -o "-k $dir -c listen_addresses= -c max_connections=300 -c fsync=${WEBOPS_PG_FSYNC:-off}" start >/dev/null \
    || { cat "$dir/pg.log" >&2; return 1; }
  pg_started=1
  export WEBOPS_TEST_DATABASE_URL="host=$dir user=webops dbname=postgres"
}

pg_stop_private() {
  if [ -n "${pg_started:-}" ]; then
    $pg_as "$pg_bin/pg_ctl" -D "$pg_dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    pg_started=
  fi
}
