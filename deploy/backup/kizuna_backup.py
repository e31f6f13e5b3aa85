"""Backups of Kizuna: the database (``pg_dump --format=custom``) and the media files, kept as
generations, with a restore that proves what it restored.

    python deploy/backup/kizuna_backup.py backup  [--root DIR] [--keep N]
    python deploy/backup/kizuna_backup.py restore [GENERATION] [--root DIR] [--database-url URL]
                                                  [--media-root DIR] [--force]
    python deploy/backup/kizuna_backup.py verify  [GENERATION] [--root DIR]
    python deploy/backup/kizuna_backup.py list    [--root DIR]

(``make backup``, ``make restore BACKUP=...``, ``deploy/backup/backup.sh`` for cron and systemd;
docs/backup.md says how to schedule them and how to rehearse a restore.)

A generation is one folder under the backup root (``KIZUNA_BACKUP_ROOT``, default
``var/backups``), named for its UTC time: ``database.pgdump``, ``media.tar`` and
``manifest.json`` (row counts per table, every media file's sha256 and size, the dump's and the
archive's sha256, the server version, Kizuna's commit; never a password or a URL). It is
written in a hidden ``.partial-*`` folder and renamed into place once complete, so a folder
with a generation's name is always a whole backup. The newest ``--keep`` generations
(``KIZUNA_BACKUP_KEEP``, default 7) are kept; older ones are removed only after a new one is
complete.

The row counts are taken in the very snapshot that pg_dump dumps (``pg_export_snapshot`` and
``pg_dump --snapshot``), so they match the dump exactly even while the service writes. The
database is dumped before the media files are read: a photo is written before the row that
names it, so every file a dumped row names is in the archive.

A restore checks the checksums before it touches anything, refuses a target database or media
root that is not empty unless ``--force``, restores in one transaction, then checks every media
file and compares every table's row count with the manifest, and says what differs.

Expected failures (no pg_dump, a database that does not answer, a full disk, a corrupted
generation) end with one clear line and exit status 1, never a traceback. Standard library
and psycopg only, so it runs without Django's settings (DATABASE_URL and MEDIA_ROOT are read
as config/settings.py reads them, with the same defaults).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BASE_DIR = Path(__file__).resolve().parents[2]
DEFAULTS_FILE = BASE_DIR / "deploy" / "dev" / "defaults.env"
DEFAULT_MEDIA_ROOT = BASE_DIR / "var" / "media"  # as config/settings.py
DEFAULT_BACKUP_ROOT = BASE_DIR / "var" / "backups"
DEFAULT_KEEP = 7
DEBIAN_ROOT = Path("/usr/lib/postgresql")

MANIFEST = "manifest.json"
DUMP = "database.pgdump"
MEDIA_ARCHIVE = "media.tar"
FORMAT = 1  # of the manifest; a restore refuses a format it does not know
GENERATION = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
PARTIAL_PREFIX = ".partial-"
LOCK_FILE = ".lock"
CONNECT_TIMEOUT = 10  # seconds: a database that does not answer by then is reported as such
CHUNK = 1024 * 1024

Say = Callable[[str], None]


class BackupError(Exception):
    """An expected failure: the message says what happened and what to do; exit status 1."""


def say(message: str) -> None:
    print(f"[backup] {message}", flush=True)


# --- configuration -----------------------------------------------------------------------


def read_defaults(path: Path = DEFAULTS_FILE) -> dict[str, str]:
    """The KEY=value lines of deploy/dev/defaults.env (the development database's URL)."""
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def default_database_url() -> str:
    defaults = read_defaults()
    server = defaults.get("KIZUNA_DEV_POSTGRES", "postgres://kizuna:kizuna@127.0.0.1:5432")
    return f"{server}/{defaults.get('KIZUNA_DEV_DATABASE', 'kizuna')}"


def database_url(environ: Mapping[str, str]) -> str:
    return environ.get("DATABASE_URL") or default_database_url()


def media_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("MEDIA_ROOT") or DEFAULT_MEDIA_ROOT)


def backup_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("KIZUNA_BACKUP_ROOT") or DEFAULT_BACKUP_ROOT)


def keep_count(environ: Mapping[str, str]) -> int:
    raw = environ.get("KIZUNA_BACKUP_KEEP") or str(DEFAULT_KEEP)
    if not raw.isdigit() or int(raw) < 1:
        raise BackupError(f"KIZUNA_BACKUP_KEEP must be a whole number of at least 1, not {raw!r}")
    return int(raw)


# --- the database --------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """A database named by a URL, with its password kept apart: the password reaches libpq
    through psycopg's argument and the tools' PGPASSWORD, never a command line or a message."""

    params: dict[str, Any]  # libpq keywords, without the password
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Database:
        # django-environ's schemes for PostgreSQL; libpq knows postgres:// and postgresql://.
        normalized = re.sub(r"^(postgres|postgresql|pgsql)://", "postgresql://", url.strip())
        if not normalized.startswith("postgresql://"):
            raise BackupError(
                "the database URL is not a PostgreSQL URL (postgres://user@host:port/name)"
            )
        try:
            params = conninfo_to_dict(normalized)
        except psycopg.Error:
            raise BackupError(
                "the database URL cannot be read (postgres://user:password@host:port/name)"
            ) from None
        password = params.pop("password", None)
        if not params.get("dbname"):
            raise BackupError("the database URL names no database (…/name at its end)")
        return cls(params=params, password=str(password) if password else None)

    @property
    def name(self) -> str:
        return str(self.params["dbname"])

    def other(self, dbname: str) -> Database:
        """The same server and role, another database."""
        return Database(params={**self.params, "dbname": dbname}, password=self.password)

    def describe(self) -> str:
        host = str(self.params.get("host") or "")
        if not host or host.startswith("/"):
            return f"database {self.name!r} over the socket in {host or 'libpq default folder'}"
        return f"database {self.name!r} on {host}:{self.params.get('port') or 5432}"

    def conninfo(self) -> str:
        return make_conninfo(**self.params)

    def tool_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        env = dict(environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def redact(self, text: str) -> str:
        return text.replace(self.password, "********") if self.password else text

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        extra: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
        if self.password is not None:
            extra["password"] = self.password
        try:
            return psycopg.connect(self.conninfo(), autocommit=autocommit, **extra)
        except psycopg.Error as error:
            raise BackupError(
                f"cannot connect to the {self.describe()}: {self.redact(str(error).strip())}"
            ) from None


def find_tool(tool: str, major: int | None, environ: Mapping[str, str]) -> Path:
    """pg_dump or pg_restore: KIZUNA_PG_BINDIR's, else Debian's of the server's major version,
    else the newest Debian one, else PATH's. A pg_dump older than the server refuses to dump."""
    named = environ.get("KIZUNA_PG_BINDIR")
    candidates: list[Path] = []
    if named:
        candidates.append(Path(named) / tool)
    else:
        if major is not None:
            candidates.append(DEBIAN_ROOT / str(major) / "bin" / tool)
        if DEBIAN_ROOT.is_dir():
            versions = [p for p in DEBIAN_ROOT.iterdir() if p.name.isdigit()]
            for version in sorted(versions, key=lambda p: int(p.name), reverse=True):
                candidates.append(version / "bin" / tool)
        if found := shutil.which(tool, path=environ.get("PATH", os.defpath)):
            candidates.append(Path(found))
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    package = f"postgresql-client-{major}" if major else "postgresql-client"
    raise BackupError(
        f"{tool} is missing: install PostgreSQL's client programs "
        f"(apt-get install {package}) or set KIZUNA_PG_BINDIR to their folder"
    )


def run_tool(argv: Sequence[str], database: Database, environ: Mapping[str, str], what: str) -> str:
    """Run a PostgreSQL program; its standard output, or BackupError with its own words."""
    try:
        result = subprocess.run(
            list(argv),
            env=database.tool_env(environ),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise BackupError(f"{what}: cannot run {argv[0]}: {error.strerror}") from None
    if result.returncode != 0:
        output = database.redact((result.stderr or result.stdout).strip())
        raise BackupError(f"{what} failed (exit {result.returncode}): {output}")
    return result.stdout


def user_tables(cursor: psycopg.Cursor[Any]) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT n.nspname, c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        # Schemas that PostgreSQL owns are pg_* and information_schema; the rest is ours.
        " WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
        " ORDER BY 1, 2"
    )
    return [(str(schema), str(table)) for schema, table in cursor.fetchall()]


def row_counts(cursor: psycopg.Cursor[Any]) -> dict[str, int]:
    """Rows per table ("schema.table"), in the cursor's transaction."""
    counts: dict[str, int] = {}
    for schema, table in user_tables(cursor):
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        row = cursor.fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def applied_migrations(cursor: psycopg.Cursor[Any]) -> dict[str, str]:
    """The newest migration applied per Django app: which code the data belongs to."""
    cursor.execute("SELECT to_regclass('public.django_migrations') IS NOT NULL")
    row = cursor.fetchone()
    if not row or not row[0]:
        return {}
    cursor.execute("SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
    return {str(app): str(name) for app, name in cursor.fetchall()}


def user_objects(cursor: psycopg.Cursor[Any]) -> int:
    """Relations and functions of the application's schemas (an extension's own excluded):
    zero in a new database."""
    cursor.execute(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        "  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
        "  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        "                  AND d.objid = c.oid AND d.deptype = 'e'))"
        " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        "  WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
        "  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
        "                  AND d.objid = p.oid AND d.deptype = 'e'))"
    )
    row = cursor.fetchone()
    return int(row[0]) if row else 0


# --- files ---------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashingReader:
    """A file read by tarfile, hashed on the way: the sha256 is of exactly the bytes archived,
    even if the file changes while the backup runs."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def media_files(root: Path, warn: Say) -> Iterator[tuple[str, Path]]:
    """(name inside the archive, path) of every regular file under `root`, in a fixed order.
    Links and special files are skipped (and named): a restore writes regular files only."""
    for folder, folders, files in os.walk(root):
        folders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file():
                warn(f"skipping {relative} in the media root: not a regular file")
                continue
            yield relative, path


def archive_media(root: Path, archive: Path, warn: Say) -> dict[str, dict[str, Any]]:
    """media.tar of every file under `root` (uncompressed: photos are compressed already);
    {name: {sha256, size}} of what it holds."""
    files: dict[str, dict[str, Any]] = {}
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        if not root.is_dir():
            warn(f"the media root {root} does not exist: the generation holds no media files")
            return files
        for name, path in media_files(root, warn):
            try:
                stream = path.open("rb")
            except FileNotFoundError:
                continue  # removed since the walk saw it
            with stream:
                status = os.fstat(stream.fileno())
                info = tarfile.TarInfo(name)
                info.size = status.st_size
                info.mtime = int(status.st_mtime)
                info.mode = 0o600
                reader = HashingReader(stream)
                tar.addfile(info, reader)
            files[name] = {"sha256": reader.digest.hexdigest(), "size": info.size}
    return files


# --- generations ---------------------------------------------------------------------------


def generation_key(path: Path) -> tuple[str, int]:
    match = GENERATION.match(path.name)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


def generations(root: Path) -> list[Path]:
    """The complete generations under `root`, newest first."""
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.iterdir()
        if GENERATION.match(path.name) and (path / MANIFEST).is_file()
    ]
    return sorted(found, key=generation_key, reverse=True)


def new_generation_name(root: Path, now: dt.datetime) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    name, counter = stamp, 1
    while (root / name).exists():
        counter += 1
        name = f"{stamp}-{counter}"
    return name


def choose_generation(root: Path, named: str | None) -> Path:
    """A generation by path or by name under `root`; the newest when none is named."""
    if named:
        path = Path(named)
        if not path.is_dir() and (root / named).is_dir():
            path = root / named
        if not (path / MANIFEST).is_file():
            raise BackupError(f"{named} is not a backup generation (no {MANIFEST} in it)")
        return path
    found = generations(root)
    if not found:
        raise BackupError(f"no backup generation in {root}")
    return found[0]


def read_manifest(generation: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError(f"{generation / MANIFEST} cannot be read: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{generation / MANIFEST} is not a Kizuna backup manifest of format 1")
    return manifest


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """One backup at a time per root: a second one would prune what the first is writing."""
    with (root / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another backup is writing to {root}: try again later") from None
        yield


def git_commit(environ: Mapping[str, str]) -> str | None:
    if commit := environ.get("KIZUNA_GIT_COMMIT"):
        return commit
    git = shutil.which("git")
    if git is None:
        return None
    result = subprocess.run(
        [git, "-C", str(BASE_DIR), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- backup --------------------------------------------------------------------------------


def dump_database(
    database: Database, target: Path, environ: Mapping[str, str], say: Say
) -> dict[str, Any]:
    """pg_dump of `database` into `target`; its description for the manifest, with the row
    counts of the very snapshot that was dumped."""
    with database.connect() as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_export_snapshot(), current_database(), version(),"
                " current_setting('server_version'), current_setting('server_version_num')::int,"
                " pg_encoding_to_char(d.encoding), d.datcollate, d.datctype"
                " FROM pg_database d WHERE d.datname = current_database()"
            )
            row = cursor.fetchone()
            assert row is not None
            snapshot, name, full_version, version, version_num = row[:5]
            encoding, collate, ctype = row[5:]
            major = int(version_num) // 10000
            pg_dump = find_tool("pg_dump", major, environ)
            say(f"dumping the {database.describe()} (PostgreSQL {version}) with {pg_dump}")
            # While this transaction holds the snapshot open, pg_dump dumps exactly it.
            run_tool(
                [
                    str(pg_dump),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    "--no-password",
                    f"--file={target}",
                    f"--dbname={database.conninfo()}",
                ],
                database,
                environ,
                "pg_dump",
            )
            counts = row_counts(cursor)
            migrations = applied_migrations(cursor)
    tool_version = run_tool([str(pg_dump), "--version"], database, environ, "pg_dump").strip()
    return {
        "name": name,
        "server_version": version,
        "server_version_num": version_num,
        "server": full_version,
        "encoding": encoding,
        "collate": collate,
        "ctype": ctype,
        "tables": counts,
        "migrations": migrations,
        "dump": {
            "file": DUMP,
            "format": "custom",
            "sha256": sha256_of(target),
            "size": target.stat().st_size,
            "tool": tool_version,
        },
    }


def backup(
    database: Database,
    media: Path,
    root: Path,
    keep: int,
    environ: Mapping[str, str],
    say: Say = say,
) -> Path:
    """Write a new generation under `root`, then prune to the newest `keep`; its folder."""
    if not root.exists():
        root.mkdir(parents=True)
        root.chmod(0o700)  # patient data: this user alone (each generation is 0700 too)
    with locked(root):
        for stale in root.glob(f"{PARTIAL_PREFIX}*"):
            say(f"removing {stale.name}, left by a backup that did not finish")
            shutil.rmtree(stale, ignore_errors=True)
        started = now_utc()
        partial = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=root))
        try:
            described = dump_database(database, partial / DUMP, environ, say)
            say(f"archiving the media files of {media}")
            files = archive_media(media, partial / MEDIA_ARCHIVE, say)
            archive = partial / MEDIA_ARCHIVE
            manifest = {
                "format": FORMAT,
                "kind": "kizuna-backup",
                "created_at": iso(started),
                "finished_at": iso(now_utc()),
                "kizuna_commit": git_commit(environ),
                "database": described,
                "media": {
                    "file": MEDIA_ARCHIVE,
                    "sha256": sha256_of(archive),
                    "size": archive.stat().st_size,
                    "files": files,
                },
            }
            (partial / MANIFEST).write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            for name in (DUMP, MEDIA_ARCHIVE, MANIFEST):
                (partial / name).chmod(0o600)
                fsync_path(partial / name)
            fsync_path(partial)
            final = root / new_generation_name(root, started)
            partial.rename(final)
            fsync_path(root)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        tables = described["tables"]
        say(
            f"generation {final.name} written: {len(tables)} tables, "
            f"{sum(tables.values())} rows, {len(files)} media files"
        )
        prune(root, keep, say)
    return final


def prune(root: Path, keep: int, say: Say = say) -> list[Path]:
    """Remove all but the newest `keep` generations; the ones removed."""
    removed = generations(root)[keep:]
    for old in removed:
        say(f"pruning generation {old.name} (keeping the newest {keep})")
        shutil.rmtree(old)
    return removed


# --- verify --------------------------------------------------------------------------------


def check_file(generation: Path, described: Mapping[str, Any]) -> Path:
    path = generation / str(described["file"])
    if not path.is_file():
        raise BackupError(f"{path} is missing: this generation cannot be restored")
    if path.stat().st_size != described["size"] or sha256_of(path) != described["sha256"]:
        raise BackupError(
            f"{path} does not match its checksum in the manifest (corrupted or changed): "
            "refusing it; restore another generation"
        )
    return path


def check_media_files(found: Mapping[str, tuple[str, int]], manifest: Mapping[str, Any]) -> None:
    """`found` ({name: (sha256, size)}) against the manifest's media files; BackupError naming
    every difference."""
    expected: Mapping[str, Mapping[str, Any]] = manifest["media"]["files"]
    problems = []
    for name, wanted in sorted(expected.items()):
        if name not in found:
            problems.append(f"{name}: missing")
        elif found[name] != (wanted["sha256"], wanted["size"]):
            problems.append(f"{name}: checksum or size differs")
    problems += [f"{name}: not in the manifest" for name in sorted(set(found) - set(expected))]
    if problems:
        raise BackupError("media files differ from the manifest: " + "; ".join(problems))


def archived_files(archive: Path) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            stream = tar.extractfile(member) if member.isfile() else None
            if stream is None:
                continue
            digest, size = hashlib.sha256(), 0
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            found[member.name] = (digest.hexdigest(), size)
    return found


def verify(generation: Path, environ: Mapping[str, str], say: Say = say) -> dict[str, Any]:
    """Check a generation without restoring it: both checksums, every media file, and that
    pg_restore can read the dump's table of contents. Its manifest."""
    manifest = read_manifest(generation)
    dump = check_file(generation, manifest["database"]["dump"])
    archive = check_file(generation, manifest["media"])
    check_media_files(archived_files(archive), manifest)
    major = int(manifest["database"]["server_version_num"]) // 10000
    pg_restore = find_tool("pg_restore", major, environ)
    nobody = Database(params={}, password=None)
    run_tool([str(pg_restore), "--list", str(dump)], nobody, environ, "pg_restore --list")
    say(
        f"generation {generation.name} is whole: dump and media archive match their checksums, "
        f"{len(manifest['media']['files'])} media files checked"
    )
    return manifest


# --- restore -------------------------------------------------------------------------------


def ensure_database(target: Database, manifest: Mapping[str, Any], say: Say) -> bool:
    """Make the target database when it does not exist, with the source's encoding and
    locale (C.UTF-8 makes pg_trgm treat kana and kanji as letters); whether it was made."""
    try:
        target.connect(autocommit=True).close()
        return False
    except BackupError as refused:
        reason = refused
    described = manifest["database"]
    try:
        connection = target.other("postgres").connect(autocommit=True)
    except BackupError:
        raise reason from None  # the target's own reason says more than the maintenance one
    with connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [target.name]
        ).fetchone()
        if exists:
            raise reason
        say(f"creating the {target.describe()}")
        try:
            connection.execute(
                sql.SQL(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}"
                ).format(
                    sql.Identifier(target.name),
                    sql.Literal(described["encoding"]),
                    sql.Literal(described["collate"]),
                    sql.Literal(described["ctype"]),
                )
            )
        except psycopg.Error as error:
            raise BackupError(
                f"cannot create the {target.describe()}: {target.redact(str(error).strip())}; "
                "create it yourself (createdb -T template0 -E UTF8 --locale=C.UTF-8 NAME)"
            ) from None
    return True


def empty_database(target: Database, say: Say) -> None:
    """--force: drop every schema of the application (an extension goes with its schema and
    comes back from the dump), then give the database its empty `public` schema again."""
    with target.connect(autocommit=True) as connection:
        schemas = connection.execute(
            "SELECT n.nspname FROM pg_namespace n"
            " WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1"
        ).fetchall()
        say(f"--force: emptying the {target.describe()}")
        try:
            with connection.transaction():
                for (schema,) in schemas:
                    connection.execute(
                        sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
                    )
                connection.execute("CREATE SCHEMA public")
        except psycopg.Error as error:
            raise BackupError(
                f"cannot empty the {target.describe()}: {target.redact(str(error).strip())}"
            ) from None


def compare_counts(target: Database, manifest: Mapping[str, Any]) -> list[str]:
    expected: Mapping[str, int] = manifest["database"]["tables"]
    with target.connect() as connection, connection.cursor() as cursor:
        restored = row_counts(cursor)
    problems = []
    for table, count in sorted(expected.items()):
        if table not in restored:
            problems.append(f"{table}: missing")
        elif restored[table] != count:
            problems.append(f"{table}: {count} rows in the backup, {restored[table]} restored")
    problems += [f"{table}: not in the backup" for table in sorted(set(restored) - set(expected))]
    return problems


def media_root_empty(media: Path) -> bool:
    return not media.exists() or (media.is_dir() and not any(media.iterdir()))


def extract_media(archive: Path, media: Path, manifest: Mapping[str, Any]) -> Path:
    """The archive unpacked beside `media` (same file system, so it can be renamed into
    place) and checked file by file; the folder."""
    media.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{media.name}.restoring-", dir=media.parent))
    try:
        with tarfile.open(archive, "r:") as tar:
            # "data": no absolute names, no .., no links or devices, no set-uid bits.
            tar.extractall(staging, filter="data")
        found: dict[str, tuple[str, int]] = {}
        for name, path in media_files(staging, lambda _message: None):
            found[name] = (sha256_of(path), path.stat().st_size)
        check_media_files(found, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def put_in_place(staging: Path, media: Path) -> None:
    """The checked files into `media`. An existing folder is kept and emptied rather than
    replaced: it may be a mount point, and it keeps its owner and mode."""
    if not media.exists():
        staging.rename(media)
        return
    for entry in list(media.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for entry in list(staging.iterdir()):
        entry.rename(media / entry.name)


def restore(
    generation: Path,
    target: Database,
    media: Path,
    *,
    force: bool,
    environ: Mapping[str, str],
    say: Say = say,
) -> dict[str, Any]:
    """Restore `generation` into `target` and `media`; its manifest. Raises BackupError,
    before anything is changed, for a corrupted generation or a target that is not empty
    (unless `force`), and after the restore for any row count that differs."""
    manifest = read_manifest(generation)
    say(f"restoring generation {generation.name} (made {manifest['created_at']})")
    dump = check_file(generation, manifest["database"]["dump"])
    archive = check_file(generation, manifest["media"])
    major = int(manifest["database"]["server_version_num"]) // 10000
    pg_restore = find_tool("pg_restore", major, environ)

    if not media_root_empty(media) and not force:
        raise BackupError(
            f"the media root {media} is not empty: restore into a new folder, "
            "or pass --force to replace its contents"
        )
    ensure_database(target, manifest, say)
    with target.connect() as connection, connection.cursor() as cursor:
        objects = user_objects(cursor)
    if objects and not force:
        raise BackupError(
            f"the {target.describe()} is not empty ({objects} tables, sequences, views or "
            "functions): restore into a new database, or pass --force to replace its contents"
        )

    staging = extract_media(archive, media, manifest)
    try:
        if objects:
            empty_database(target, say)
        say(f"pg_restore into the {target.describe()} (one transaction)")
        run_tool(
            [
                str(pg_restore),
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "--single-transaction",
                "--no-password",
                f"--dbname={target.conninfo()}",
                str(dump),
            ],
            target,
            environ,
            "pg_restore",
        )
        put_in_place(staging, media)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    say(f"media files restored into {media}: {len(manifest['media']['files'])} files checked")

    with target.connect(autocommit=True) as connection:
        connection.execute("ANALYZE")  # pg_restore leaves the planner without statistics
    problems = compare_counts(target, manifest)
    if problems:
        raise BackupError(
            "row counts differ from the manifest (the restored database is left as it is, "
            "to be looked at): " + "; ".join(problems)
        )
    tables = manifest["database"]["tables"]
    say(
        f"restored and checked: {len(tables)} tables, {sum(tables.values())} rows, "
        "every row count as in the manifest"
    )
    return manifest


# --- command line --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    def positive(raw: str) -> int:
        if not raw.isdigit() or int(raw) < 1:
            raise argparse.ArgumentTypeError("a whole number of at least 1")
        return int(raw)

    top = argparse.ArgumentParser(
        prog="kizuna_backup.py", description="Back up and restore Kizuna (docs/backup.md)."
    )
    commands = top.add_subparsers(dest="command", required=True)
    root_help = "the backup root (default: KIZUNA_BACKUP_ROOT, else var/backups)"

    made = commands.add_parser("backup", help="write a new generation and prune old ones")
    made.add_argument("--root", type=Path, help=root_help)
    made.add_argument(
        "--keep", type=positive, help="generations to keep (default: KIZUNA_BACKUP_KEEP, else 7)"
    )

    back = commands.add_parser("restore", help="restore a generation into an empty target")
    back.add_argument("generation", nargs="?", help="a name under the root or a path (newest)")
    back.add_argument("--root", type=Path, help=root_help)
    back.add_argument(
        "--database-url",
        help="the target (default: RESTORE_DATABASE_URL, else DATABASE_URL); leave the "
        "password out of it (PGPASSWORD or ~/.pgpass), a command line is visible to all",
    )
    back.add_argument(
        "--media-root",
        type=Path,
        help="the target media folder (default: RESTORE_MEDIA_ROOT, else MEDIA_ROOT)",
    )
    back.add_argument("--force", action="store_true", help="replace a target that is not empty")

    checked = commands.add_parser("verify", help="check a generation without restoring it")
    checked.add_argument("generation", nargs="?", help="a name under the root or a path (newest)")
    checked.add_argument("--root", type=Path, help=root_help)

    listed = commands.add_parser("list", help="the generations, newest first")
    listed.add_argument("--root", type=Path, help=root_help)
    return top


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    root: Path = args.root or backup_root(environ)
    if args.command == "backup":
        database = Database.from_url(database_url(environ))
        keep = args.keep or keep_count(environ)
        backup(database, media_root(environ), root, keep, environ)
    elif args.command == "restore":
        url = args.database_url or environ.get("RESTORE_DATABASE_URL") or database_url(environ)
        media = args.media_root or Path(environ.get("RESTORE_MEDIA_ROOT") or media_root(environ))
        generation = choose_generation(root, args.generation)
        restore(generation, Database.from_url(url), media, force=args.force, environ=environ)
    elif args.command == "verify":
        verify(choose_generation(root, args.generation), environ)
    else:
        if not generations(root):
            say(f"no backup generation in {root}")
        for generation in generations(root):
            manifest = read_manifest(generation)
            size = sum(path.stat().st_size for path in generation.iterdir())
            say(
                f"{generation.name}  made {manifest['created_at']}  {size / 1e6:.1f} MB  "
                f"database {manifest['database']['name']}  "
                f"{len(manifest['media']['files'])} media files"
            )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        run(args, os.environ if environ is None else environ)
    except BackupError as error:
        print(f"[backup] error: {error}", file=sys.stderr, flush=True)
        return 1
    except OSError as error:
        # A full disk, a folder we may not write: the file and the reason, not a traceback.
        where = f" ({error.filename})" if error.filename else ""
        hint = ": free some space, or point KIZUNA_BACKUP_ROOT elsewhere"
        reason = error.strerror or str(error)
        print(
            f"[backup] error: {reason}{where}"
            + (hint if error.errno in (errno.ENOSPC, errno.EDQUOT) else ""),
            file=sys.stderr,
            flush=True,
        )
        return 1
    except KeyboardInterrupt:
        print("[backup] interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
