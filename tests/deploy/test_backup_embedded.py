"""Backups of the embedded mode's private PostgreSQL (deploy/dev/embedded_pg.py), reached over
its Unix socket: the same commands as for the system server, with no TCP port and no password.
No database of pytest's: the cluster is made in a temporary folder and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg

from tests.deploy.dev_scripts import load
from tests.deploy.test_backup import checksums, counts_in, kb


def test_the_private_postgres_backs_up_and_restores_the_same_way(tmp_path):
    """A table with a trigger like the audit log's, backed up and restored into another
    database of the same cluster."""
    # Not pytest's tmp_path for the cluster: as root it runs as the postgres user, who must
    # reach its folder (tests/deploy/test_embedded_mode.py).
    base = Path(tempfile.mkdtemp(prefix="kizuna-backup-pg-"))
    base.chmod(0o755)
    cluster = load("embedded_pg").EmbeddedPostgres.from_environment(
        {"KIZUNA_EMBEDDED_PGDATA": str(base / "pg")}, say=lambda _message: None
    )
    try:
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE kizuna")
        source = cluster.url("kizuna")
        with psycopg.connect(source) as conn:
            conn.execute("CREATE TABLE note (id serial PRIMARY KEY, body text)")
            conn.execute(
                "INSERT INTO note (body) SELECT '記録 ' || n FROM generate_series(1, 50) n"
            )
            conn.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'append-only'; END $$"
            )
            conn.execute(
                "CREATE TRIGGER note_append_only BEFORE UPDATE OR DELETE ON note"
                " FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        media = tmp_path / "media"
        media.mkdir()
        (media / "a.jpg").write_bytes(os.urandom(1000))
        env = {
            **os.environ,
            "DATABASE_URL": source,
            "MEDIA_ROOT": str(media),
            "KIZUNA_BACKUP_ROOT": str(tmp_path / "backups"),
        }

        assert kb.main(["backup"], env) == 0
        restored = cluster.url("restored")
        code = kb.main(
            ["restore", "--database-url", restored, "--media-root", str(tmp_path / "m")], env
        )

        assert code == 0
        assert counts_in(restored) == {"public.note": 50}
        assert checksums(tmp_path / "m") == checksums(media)
    finally:
        if cluster.initialized() and cluster.running():
            cluster.started = True
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
