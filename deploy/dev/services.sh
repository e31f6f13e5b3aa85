#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on this machine and that the project can log in to
# PostgreSQL over TCP, for `make run`, the tests, the fault test and the benchmark.
#
#   bash deploy/dev/services.sh          # fails, saying why and what to do, when it cannot
#   bash deploy/dev/services.sh --soft   # for `make run`: says what is wrong and exits 0, so
#                                        # deploy/dev/run.py falls back to its embedded mode
#
# - Starts the local PostgreSQL cluster and Redis when they are installed but stopped (starting
#   a cluster needs root, or the cluster's owner).
# - Logs in as DATABASE_URL says (default: the development role of deploy/dev/defaults.env).
#   When that role cannot log in, it is made (or given back its password and rights) through
#   the cluster's administrator: `runuser -u postgres -- psql` over the local socket as root,
#   else `psql -U postgres` over TCP where the cluster trusts local connections. A new Debian
#   cluster asks for a password over TCP (scram-sha-256), so the role has one; it is a
#   development password, in the repository on purpose, for a cluster that listens on
#   localhost only (Debian's default).
# Bash and the PostgreSQL/Redis client programs only: no Python needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=defaults.env
source "$here/defaults.env"

soft=0
[ "${1:-}" = "--soft" ] && soft=1
say() { echo "[services] $*"; }
fail() {
  echo "[services] $*" >&2
  [ "$soft" = 1 ] && exit 0
  exit 1
}
urldecode() { local s="${1//+/ }"; printf '%b' "${s//%/\\x}"; }
is_root() { [ "$(id -u)" = 0 ]; }

# --- which PostgreSQL, as whom ---------------------------------------------------------------

url="${DATABASE_URL:-$KIZUNA_DEV_POSTGRES/$KIZUNA_DEV_DATABASE}"
pattern='^(postgres|postgresql|pgsql)://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?(/[^?]*)?(\?.*)?$'
[[ $url =~ $pattern ]] || fail "DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:port/name): $url"
pg_user=$(urldecode "${BASH_REMATCH[3]:-$(id -un)}")
pg_password=$(urldecode "${BASH_REMATCH[5]}")
pg_host=${BASH_REMATCH[6]}
pg_port=${BASH_REMATCH[8]:-5432}
[[ $KIZUNA_DEV_POSTGRES =~ $pattern ]]
dev_role=${BASH_REMATCH[3]}
dev_password=${BASH_REMATCH[5]}

case "$pg_host" in
  127.0.0.1 | localhost | "[::1]") local_pg=1 ;;
  "") say "DATABASE_URL names a Unix socket: nothing to start or check here"; local_pg=0 ;;
  *) local_pg=0 ;;
esac

pg_up() { pg_isready -q -h "${pg_host:-127.0.0.1}" -p "$pg_port" 2>/dev/null; }

start_postgres() {
  command -v pg_isready >/dev/null && command -v pg_lsclusters >/dev/null ||
    fail "PostgreSQL is not installed: apt-get install postgresql (as root, \`make run\` and \`make test\` install it)"
  pg_up && return 0
  [ "$local_pg" = 1 ] || fail "PostgreSQL at $pg_host:$pg_port does not answer (not on this machine: start it there)"
  local cluster
  cluster=$(pg_lsclusters -h 2>/dev/null | awk -v port="$pg_port" '$3 == port { print $1, $2; exit }')
  [ -n "$cluster" ] || fail "no PostgreSQL cluster of this machine uses port $pg_port (pg_lsclusters); make one with: pg_createcluster --start 15 main"
  is_root || fail "PostgreSQL ($cluster) is stopped, and starting it needs root: sudo pg_ctlcluster $cluster start"
  say "starting PostgreSQL (cluster $cluster, port $pg_port): it was stopped"
  # shellcheck disable=SC2086 # "version name", two words on purpose
  pg_ctlcluster --skip-systemctl-redirect $cluster start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || fail "PostgreSQL did not start on $pg_host:$pg_port: see /var/log/postgresql/"
}

# Prints the server's error on stdout when the login fails.
login_error() {
  PGPASSWORD="$pg_password" PGCONNECT_TIMEOUT=5 psql -X -q -At -w -h "$pg_host" -p "$pg_port" \
    -U "$pg_user" -d postgres -c 'SELECT 1' 2>&1 >/dev/null | head -n 3
}

# psql as the cluster's administrator, reading SQL on stdin.
admin_psql() {
  if is_root && id postgres >/dev/null 2>&1; then
    # Over the local socket: Debian lets the postgres user in there without a password (peer).
    runuser -u postgres -- psql -X -q -w -v ON_ERROR_STOP=1 -p "$pg_port" -d postgres "$@"
  else
    psql -X -q -w -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U postgres -d postgres "$@"
  fi
}

make_dev_role() {
  # SUPERUSER: the role creates the test databases, installs pg_trgm (a migration) and must also
  # work in databases that the postgres role made before this role existed.
  admin_psql -v role="$pg_user" -v password="$pg_password" <<'SQL'
SELECT format('%s ROLE %I WITH LOGIN SUPERUSER PASSWORD %L',
              CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
                   THEN 'ALTER' ELSE 'CREATE' END,
              :'role', :'password') \gexec
SQL
}

check_encoding() {
  local encoding
  encoding=$(PGPASSWORD="$pg_password" psql -X -q -At -w -h "$pg_host" -p "$pg_port" -U "$pg_user" \
    -d postgres -c 'SHOW server_encoding' 2>/dev/null) || return 0
  [ "$encoding" = UTF8 ] ||
    say "warning: PostgreSQL at $pg_host:$pg_port stores text as $encoding, not UTF8: Japanese search will not work (make the cluster again with LANG=C.UTF-8)"
}

check_login() {
  command -v psql >/dev/null || { say "psql is missing: not checking the login (apt-get install postgresql-client)"; return 0; }
  local error
  error=$(login_error) || true
  [ -z "$error" ] && { check_encoding; return 0; }
  if [ "$local_pg" = 1 ] && [ "$pg_user" = "$dev_role" ] && [ "$pg_password" = "$dev_password" ]; then
    say "the development role '$pg_user' cannot log in ($error): making it"
    if make_dev_role >/dev/null 2>&1; then
      error=$(login_error) || true
      if [ -z "$error" ]; then
        say "role '$pg_user' (password '$pg_password', development only, SUPERUSER) is ready in PostgreSQL at $pg_host:$pg_port"
        check_encoding
        return 0
      fi
    fi
    fail "could not make the role '$pg_user' in PostgreSQL at $pg_host:$pg_port ($error); as its administrator run:
  sudo -u postgres psql -c \"CREATE ROLE $pg_user WITH LOGIN SUPERUSER PASSWORD '$pg_password'\""
  fi
  fail "cannot log in to PostgreSQL at $pg_host:$pg_port as '$pg_user': $error
  Unset DATABASE_URL to use the development role '$dev_role' (made here), or put a user and password that this server accepts in DATABASE_URL."
}

if [ -n "$pg_host" ]; then
  start_postgres
  check_login
fi

# --- Redis ---------------------------------------------------------------------------------

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! redis_up; then
  command -v redis-server >/dev/null ||
    fail "Redis is not installed: apt-get install redis-server (as root, \`make run\` and \`make test\` install it)"
  say "starting Redis on 127.0.0.1:6379: it was not running"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  dir=/var/lib/redis
  [ -w "$dir" ] || dir=$(mktemp -d)
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/kizuna-dev.log"
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
fi
redis_up || fail "Redis did not start on 127.0.0.1:6379"
