"""Backups (deploy/backup/kizuna_backup.py), on the real PostgreSQL and real files: a backup of
the test database and a media folder is restored into a new database and a new folder, and
the row counts and checksums are compared with the source, not only with the manifest.

pg_dump reads the database from another connection, so the data must be committed: these
tests are transactional, and back up pytest-django's test database itself. Every database a
restore makes is dropped afterwards.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from audit.models import AuditAction, AuditEvent
from audit.services import audit_record
from messaging import services as messaging_services
from messaging.models import Message
from patients.models import Patient

BASE_DIR = Path(__file__).resolve().parents[2]
BACKUP_DIR = BASE_DIR / "deploy" / "backup"

pytestmark = pytest.mark.django_db(transaction=True)


def load_backup() -> ModuleType:
    """deploy/backup/kizuna_backup.py, imported from its own folder as the wrapper runs it."""
    if str(BACKUP_DIR) not in sys.path:
        sys.path.insert(0, str(BACKUP_DIR))
    return importlib.import_module("kizuna_backup")


kb = load_backup()


def url_of(dbname: str, password: str | None = None, user: str | None = None) -> str:
    settings = connection.settings_dict
    user = quote(user or settings["USER"], safe="")
    secret = quote(settings["PASSWORD"] if password is None else password, safe="")
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{user}:{secret}@{host}:{settings['PORT'] or 5432}/{dbname}"


def admin() -> psycopg.Connection:
    """The server's maintenance database, as the test role: makes and drops databases."""
    return psycopg.connect(url_of("postgres"), autocommit=True)


def counts_in(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return kb.row_counts(conn.cursor())


def checksums(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def source_url() -> str:
    return url_of(connection.settings_dict["NAME"])


@pytest.fixture
def fresh_db() -> Iterator[str]:
    """The URL of a database that does not exist yet (the restore makes it); dropped after."""
    name = f"kizuna_restore_{uuid.uuid4().hex[:10]}"
    yield url_of(name)
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A media root as the coming media app will fill it: nested folders, Japanese names,
    binary content, an empty file."""
    root = tmp_path / "media"
    (root / "photos" / "2026" / "12").mkdir(parents=True)
    (root / "photos" / "2026" / "12" / "褥瘡_仙骨部.jpg").write_bytes(os.urandom(300_000))
    (root / "photos" / "2026" / "12" / "wound.png").write_bytes(b"\x89PNG\r\n" + os.urandom(5000))
    (root / "attachments").mkdir()
    (root / "attachments" / "紹介状.pdf").write_bytes(b"%PDF-1.7 " + os.urandom(20_000))
    (root / "attachments" / "empty.txt").write_bytes(b"")
    return root


@pytest.fixture
def data(net) -> None:
    """A care team, a patient's contact book with messages, and audit rows, committed."""
    book = messaging_services.contact_book_ensure(net.patient)
    for number, author in enumerate([net.primary, net.nurse, net.pharmacist, net.nurse]):
        messaging_services.message_post(
            author, thread=book.pk, client_id=uuid.uuid4(), body=f"訪問記録 {number}: 血圧 128/76"
        )
    audit_record(net.nurse, AuditAction.SIGN_IN)
    audit_record(net.primary, AuditAction.DISCLOSURE, patient=net.patient, detail="紹介状")
    assert Message.objects.count() == 4
    assert AuditEvent.objects.count() >= 2


def environ(tmp_path: Path, media: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        "KIZUNA_BACKUP_ROOT": str(tmp_path / "backups"),
        **extra,
    }


def back_up(tmp_path: Path, media: Path, source_url: str, **extra: str) -> Path:
    assert kb.main(["backup"], environ(tmp_path, media, source_url, **extra)) == 0
    return kb.generations(tmp_path / "backups")[0]


def test_restore_into_a_fresh_database_and_folder_gives_the_same_rows_and_files(
    data, media, source_url, fresh_db, tmp_path
):
    generation = back_up(tmp_path, media, source_url)
    target_media = tmp_path / "restored-media"

    code = kb.main(
        ["restore", generation.name, "--database-url", fresh_db, "--media-root", str(target_media)],
        environ(tmp_path, media, source_url),
    )

    assert code == 0
    source_counts = counts_in(source_url)
    assert counts_in(fresh_db) == source_counts
    assert source_counts["public.messaging_message"] == 4
    assert source_counts["public.audit_auditevent"] >= 2
    assert source_counts["public.patients_patient"] == Patient.objects.count() == 1
    assert checksums(target_media) == checksums(media)
    assert len(checksums(target_media)) == 4
    manifest = json.loads((generation / "manifest.json").read_text())
    assert manifest["database"]["tables"] == source_counts


def test_restored_audit_log_is_still_append_only(data, media, source_url, fresh_db, tmp_path):
    generation = back_up(tmp_path, media, source_url)
    kb.main(
        [
            "restore",
            str(generation),
            "--database-url",
            fresh_db,
            "--media-root",
            str(tmp_path / "m"),
        ],
        environ(tmp_path, media, source_url),
    )

    with (
        psycopg.connect(fresh_db) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute("UPDATE audit_auditevent SET detail = 'changed'")


def test_restore_refuses_a_corrupted_dump_before_touching_the_target(
    data, media, source_url, fresh_db, tmp_path, capsys
):
    generation = back_up(tmp_path, media, source_url)
    dump = generation / "database.pgdump"
    corrupted = bytearray(dump.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF
    dump.write_bytes(bytes(corrupted))

    code = kb.main(
        ["restore", "--database-url", fresh_db, "--media-root", str(tmp_path / "m")],
        environ(tmp_path, media, source_url),
    )

    assert code == 1
    error = capsys.readouterr().err
    assert "database.pgdump does not match its checksum" in error
    assert "Traceback" not in error
    with admin() as conn:
        name = fresh_db.rsplit("/", 1)[1]
        assert (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None
        )
    assert not (tmp_path / "m").exists()


def test_verify_finds_a_corrupted_media_archive(data, media, source_url, tmp_path, capsys):
    generation = back_up(tmp_path, media, source_url)
    archive = generation / "media.tar"
    with archive.open("r+b") as stream:
        stream.seek(2048)
        stream.write(b"tampered")

    code = kb.main(["verify"], environ(tmp_path, media, source_url))

    assert code == 1
    assert "media.tar does not match its checksum" in capsys.readouterr().err


def test_verify_accepts_a_whole_generation(data, media, source_url, tmp_path, capsys):
    back_up(tmp_path, media, source_url)

    assert kb.main(["verify"], environ(tmp_path, media, source_url)) == 0
    assert "4 media files checked" in capsys.readouterr().out


def test_restore_refuses_a_non_empty_database_without_force(
    data, media, source_url, tmp_path, capsys
):
    back_up(tmp_path, media, source_url)
    before = counts_in(source_url)

    code = kb.main(
        ["restore", "--database-url", source_url, "--media-root", str(tmp_path / "m")],
        environ(tmp_path, media, source_url),
    )

    assert code == 1
    error = capsys.readouterr().err
    assert f"the database '{connection.settings_dict['NAME']}'" in error
    assert "is not empty" in error
    assert "--force" in error
    assert counts_in(source_url) == before


def test_restore_refuses_a_non_empty_media_root_without_force(
    data, media, source_url, fresh_db, tmp_path, capsys
):
    back_up(tmp_path, media, source_url)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.jpg").write_bytes(b"someone's photo")

    code = kb.main(
        ["restore", "--database-url", fresh_db, "--media-root", str(occupied)],
        environ(tmp_path, media, source_url),
    )

    assert code == 1
    assert f"the media root {occupied} is not empty" in capsys.readouterr().err
    assert (occupied / "keep.jpg").read_bytes() == b"someone's photo"


def test_restore_with_force_replaces_what_the_target_held(
    data, media, source_url, fresh_db, tmp_path
):
    back_up(tmp_path, media, source_url)
    target_media = tmp_path / "target-media"
    args = ["restore", "--database-url", fresh_db, "--media-root", str(target_media)]
    assert kb.main(args, environ(tmp_path, media, source_url)) == 0
    with psycopg.connect(fresh_db) as conn:
        conn.execute("CREATE TABLE stray (id int)")
    (target_media / "stray.jpg").write_bytes(b"not in the backup")

    assert kb.main([*args, "--force"], environ(tmp_path, media, source_url)) == 0

    assert counts_in(fresh_db) == counts_in(source_url)
    assert checksums(target_media) == checksums(media)


def test_restore_names_each_table_whose_row_count_differs(
    data, media, source_url, fresh_db, tmp_path, capsys
):
    generation = back_up(tmp_path, media, source_url)
    manifest_path = generation / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["database"]["tables"]["public.messaging_message"] = 99
    manifest_path.write_text(json.dumps(manifest))

    code = kb.main(
        ["restore", "--database-url", fresh_db, "--media-root", str(tmp_path / "m")],
        environ(tmp_path, media, source_url),
    )

    assert code == 1
    assert "public.messaging_message: 99 rows in the backup, 4 restored" in capsys.readouterr().err


def test_backup_keeps_the_newest_generations_and_prunes_older_ones(
    data, media, source_url, tmp_path
):
    made = [back_up(tmp_path, media, source_url, KIZUNA_BACKUP_KEEP="2").name for _ in range(3)]

    kept = [path.name for path in kb.generations(tmp_path / "backups")]
    assert kept == [made[2], made[1]]
    assert not (tmp_path / "backups" / made[0]).exists()


def test_a_failed_backup_prunes_nothing_and_leaves_no_partial_generation(
    data, media, source_url, tmp_path, capsys
):
    first = back_up(tmp_path, media, source_url, KIZUNA_BACKUP_KEEP="1")

    missing = url_of(f"kizuna_missing_{uuid.uuid4().hex[:8]}")
    code = kb.main(["backup", "--keep", "1"], environ(tmp_path, media, missing))

    assert code == 1
    error = capsys.readouterr().err
    assert "cannot connect to the database 'kizuna_missing_" in error
    assert "Traceback" not in error
    backups = tmp_path / "backups"
    assert sorted(p.name for p in backups.iterdir() if p.name != ".lock") == [first.name]


def test_backup_without_pg_dump_says_so(data, media, source_url, tmp_path, capsys):
    code = kb.main(["backup"], environ(tmp_path, media, source_url, KIZUNA_PG_BINDIR=str(tmp_path)))

    assert code == 1
    assert "pg_dump is missing" in capsys.readouterr().err
    assert kb.generations(tmp_path / "backups") == []


def test_manifest_and_output_hold_no_password(data, media, tmp_path, capsys):
    """A role of its own with a password found nowhere else, reading all data (the least a
    backup needs): neither the manifest nor anything printed may hold it or the URL."""
    role = f"kizuna_backup_{uuid.uuid4().hex[:8]}"
    password = f"S3cret-{uuid.uuid4().hex}"
    with admin() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pg_read_all_data").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        url = url_of(connection.settings_dict["NAME"], password=password, user=role)
        generation = back_up(tmp_path, media, url)
        failed = kb.main(["backup"], environ(tmp_path, media, url.rsplit("/", 1)[0] + "/nope"))
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    assert failed == 1
    manifest = (generation / "manifest.json").read_text()
    printed = capsys.readouterr()
    for text in (manifest, printed.out, printed.err):
        assert password not in text
        assert "postgres://" not in text
    assert "password" not in manifest.lower()
    assert json.loads(manifest)["database"]["name"] == connection.settings_dict["NAME"]


def test_generations_are_readable_by_their_owner_alone(data, media, source_url, tmp_path):
    generation = back_up(tmp_path, media, source_url)

    assert (tmp_path / "backups").stat().st_mode & 0o077 == 0
    assert generation.stat().st_mode & 0o077 == 0
    for path in generation.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path


def test_the_shell_wrapper_backs_up_with_the_checkouts_python(data, media, source_url, tmp_path):
    result = subprocess.run(
        [str(BACKUP_DIR / "backup.sh"), "backup"],
        env=environ(tmp_path, media, source_url),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "generation" in result.stdout
    assert len(kb.generations(tmp_path / "backups")) == 1


def test_the_scripts_defaults_are_the_settings_defaults():
    """The script reads DATABASE_URL and MEDIA_ROOT without Django: with neither set, it must
    name what the service would use."""
    assert kb.default_database_url() == settings.DEFAULT_DATABASE_URL
    if "MEDIA_ROOT" not in os.environ:
        assert kb.media_root({}) == settings.MEDIA_ROOT
