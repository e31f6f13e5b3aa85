#!/usr/bin/env bash
# Runs deploy/backup/kizuna_backup.py with the checkout's Python, from anywhere: for cron, the
# systemd unit beside this file and an operator's shell. Its arguments are the script's.
#
#   deploy/backup/backup.sh backup                    # a new generation; old ones pruned
#   deploy/backup/backup.sh verify [GENERATION]       # checksums, without restoring
#   deploy/backup/backup.sh restore [GENERATION] --database-url URL --media-root DIR
#   deploy/backup/backup.sh list
#
# DATABASE_URL, MEDIA_ROOT, KIZUNA_BACKUP_ROOT and KIZUNA_BACKUP_KEEP come from the
# environment (the service's environment file in production; docs/backup.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
checkout="$(cd "$here/../.." && pwd)"

# The checkout's virtualenv has psycopg; a bare python3 only if the system has it too.
python="$checkout/.venv/bin/python"
if [ ! -x "$python" ]; then
  python=$(command -v python3 || true)
  [ -n "$python" ] || { echo "[backup] error: no .venv in $checkout and no python3: run make first" >&2; exit 1; }
fi
exec "$python" "$here/kizuna_backup.py" "$@"
