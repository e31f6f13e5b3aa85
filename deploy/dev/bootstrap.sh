#!/usr/bin/env bash
# The Debian packages that `make run`, `make test` and CI need, checked before anything uses
# Python (python3 itself may be what is missing: a fresh Debian 12 server has git and make).
# As root it installs what is missing (one `apt-get update`, then `apt-get install`) and says
# why; otherwise it prints the command to run, and fails when the missing part is needed.
#
#   bash deploy/dev/bootstrap.sh run    # make run: Python 3.11 with venv, PostgreSQL, Redis, gettext
#   bash deploy/dev/bootstrap.sh test   # make test and CI: the same, plus Chromium, Japanese
#                                       # fonts, and Node.js with npm
#
# No compiler is installed: every Python dependency comes as a wheel for CPython 3.11 on
# x86_64 and aarch64. PYTHON names the interpreter that makes .venv (default python3).
set -euo pipefail

profile=${1:-test}
case "$profile" in run | test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac
python=${PYTHON:-python3}

say() { echo "[bootstrap] $*"; }
missing=()   # Debian packages to install
reasons=()   # why, one line each
required=0   # whether something missing is needed for $profile (not merely useful)
need() { # need PACKAGE REQUIRED(1|0) WHY
  missing+=("$1")
  if [ "$2" = 1 ]; then
    reasons+=("$1 (needed): $3")
    required=1
  else
    reasons+=("$1 (useful): $3")
  fi
}
have_package() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# --- what is missing -------------------------------------------------------------------------

if ! command -v "$python" >/dev/null; then
  need python3 1 "the interpreter ($python is missing)"
  need python3-venv 1 "makes .venv"
  need python3-dev 0 "headers, for any dependency that has to be compiled"
else
  "$python" -c 'import ensurepip, venv' 2>/dev/null || need python3-venv 1 "makes .venv ($python has no ensurepip)"
  "$python" -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
    2>/dev/null || need python3-dev 0 "headers, for any dependency that has to be compiled"
  version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$version" = 3.11 ] || say "warning: $python is Python $version; Kizuna needs 3.11 (make PYTHON=python3.11 ...)"
fi

# initdb/pg_ctl for the embedded mode's private cluster, and the system cluster for the rest.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && command -v pg_ctlcluster >/dev/null ||
  need postgresql 1 "the database, in every mode (embedded: a private cluster from its binaries)"
redis_required=0
[ "$profile" = test ] && redis_required=1
command -v redis-server >/dev/null ||
  need redis-server "$redis_required" "channel layer, cache and Celery broker (not needed in embedded mode)"
gettext_required=0
[ "$profile" = test ] && gettext_required=1
command -v msgfmt >/dev/null || need gettext "$gettext_required" "compiles the English catalog (without it pages are Japanese only)"

if [ "$profile" = test ]; then
  [ -x /usr/bin/chromium ] || need chromium 1 "the browser tests drive Debian's Chromium"
  have_package fonts-ipafont-gothic || need fonts-ipafont-gothic 1 "Japanese glyphs in the browser tests' screenshots"
  command -v node >/dev/null || need nodejs 1 "runs the JavaScript checks"
  command -v npm >/dev/null || need npm 1 "installs the JavaScript checks' tools"
fi

# --- install, or say what to install -------------------------------------------------------

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "missing Debian packages:"
  printf '[bootstrap]   %s\n' "${reasons[@]}"
  say "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  say "(or run this as root: \`make run\` and \`make test\` then install them themselves)"
  if [ "$required" = 1 ]; then
    say "stopping: '$profile' cannot go on without the packages marked as needed"
    exit 1
  fi
  say "going on without them"
  exit 0
fi

say "installing Debian packages that '$profile' needs and this machine lacks:"
printf '[bootstrap]   %s\n' "${reasons[@]}"
export DEBIAN_FRONTEND=noninteractive
# The cluster that the postgresql package makes takes its encoding from the locale: without one
# (a bare server or container) it would be SQL_ASCII, where Japanese search cannot work.
export LANG=C.UTF-8
# Waits for another apt (an unattended upgrade, a concurrent run) instead of failing at once.
apt=(apt-get -q -o DPkg::Lock::Timeout=300)
"${apt[@]}" update
"${apt[@]}" install -y "${missing[@]}"
say "installed: ${missing[*]}"
