"""A private PostgreSQL cluster for the embedded mode of `make run` (deploy/dev/run.py).

The cluster lives in one data directory (``var/embedded-pg`` unless ``KIZUNA_EMBEDDED_PGDATA``
names another), made with ``initdb`` and run with ``pg_ctl`` from Debian's PostgreSQL binaries
(``/usr/lib/postgresql/<version>/bin``, the newest there; ``KIZUNA_PG_BINDIR`` names another
folder). It never listens on TCP (``listen_addresses = ''``): clients connect over a Unix socket
in the data directory, which only the cluster's owner (and root) may open, so the port 5432 of a
system PostgreSQL stays free and trust authentication reaches no one else.

PostgreSQL refuses to run as root: as root, the data directory belongs to the ``postgres``
user (made by Debian's package) and ``initdb``/``pg_ctl`` run as that user through ``runuser``.
That user must be able to reach the folder: when the checkout sits in a private folder (root's
home, as on a new server), the cluster goes to the postgres user's home instead, one per
checkout, and the run says so.

Standard library only, like run.py: this runs before anything else is known to work.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = BASE_DIR / "var" / "embedded-pg"
DEBIAN_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "kizuna"  # the cluster's superuser, the one role Django logs in as
PORT = 5432  # names the socket file only: the cluster listens on no TCP port
OWNER_WHEN_ROOT = "postgres"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
STOP_TIMEOUT = 30
# sun_path in struct sockaddr_un holds 108 bytes, the final NUL included.
MAX_SOCKET_PATH = 107
INSTALL_HINT = (
    "install Debian's PostgreSQL (as root: apt-get install postgresql, or run `make run` as "
    "root, which installs it), or set KIZUNA_PG_BINDIR to a folder with initdb and pg_ctl"
)

Say = Callable[[str], None]


class EmbeddedPostgresError(Exception):
    """The private cluster could not be set up or started; the message says why and what to do."""


def find_bindir(environ: Mapping[str, str]) -> Path | None:
    """The folder holding initdb and pg_ctl: KIZUNA_PG_BINDIR, else Debian's newest, else PATH."""
    named = environ.get("KIZUNA_PG_BINDIR")
    candidates = [Path(named)] if named else []
    if not named and DEBIAN_ROOT.is_dir():
        versions = [p for p in DEBIAN_ROOT.iterdir() if re.fullmatch(r"\d+", p.name)]
        for version in sorted(versions, key=lambda p: int(p.name), reverse=True):
            candidates.append(version / "bin")
    if not named and (initdb := shutil.which("initdb")):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def owner_when_root() -> str | None:
    """The user that runs the cluster when we are root (PostgreSQL refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OWNER_WHEN_ROOT)
    except KeyError:
        raise EmbeddedPostgresError(
            f"running as root, and there is no {OWNER_WHEN_ROOT!r} user to run PostgreSQL "
            f"as (PostgreSQL refuses root): {INSTALL_HINT}"
        ) from None
    return OWNER_WHEN_ROOT


def reachable_by(user: str, folder: Path) -> bool:
    """Whether `user` may pass through every folder down to `folder` (the nearest that exists)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)], check=False)
    return probe.returncode == 0


def choose_data_dir(
    environ: Mapping[str, str], default: Path = DEFAULT_DATA_DIR
) -> tuple[Path, str | None]:
    """(data directory, why it is not the default or None): KIZUNA_EMBEDDED_PGDATA, else
    `default`, else (as root, when the cluster's user cannot reach `default`) a folder of this
    checkout in that user's home."""
    named = environ.get("KIZUNA_EMBEDDED_PGDATA")
    if named:
        return Path(named).resolve(), None
    owner = owner_when_root()
    if owner is None or reachable_by(owner, default.parent):
        return default, None
    checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
    home = Path(pwd.getpwnam(owner).pw_dir)
    moved = home / "kizuna-embedded" / f"{BASE_DIR.name}-{checkout}"
    why = (
        f"the {owner!r} user that runs it cannot reach {default.parent} (a private folder "
        f"above it), so the cluster of this checkout lives in {moved}"
    )
    return moved, why


@dataclass
class EmbeddedPostgres:
    """One private cluster: `start` makes it when needed and starts it, `stop` stops it."""

    data_dir: Path
    bindir: Path
    say: Say = print
    started: bool = False  # by us, in this run: only then does `stop` stop it
    moved_because: str | None = None  # why data_dir is not var/embedded-pg, when it is not

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], say: Say = print) -> EmbeddedPostgres:
        bindir = find_bindir(environ)
        if bindir is None:
            raise EmbeddedPostgresError(f"no PostgreSQL server binaries found: {INSTALL_HINT}")
        data_dir, moved_because = choose_data_dir(environ)
        return cls(data_dir=data_dir, bindir=bindir, say=say, moved_because=moved_because)

    # --- what clients need -------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def url(self, dbname: str) -> str:
        """A libpq URL over the socket; django-environ and psycopg read it the same way."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgres://{SUPERUSER}@:{PORT}/{dbname}?host={host}"

    # --- running the binaries ----------------------------------------------------------------

    def _owner(self) -> str | None:
        return owner_when_root()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / tool), *args]
        owner = self._owner()
        if owner is not None:
            argv = ["runuser", "-u", owner, "--", *argv]
        # A session of its own: a Ctrl-C meant for run.py must not kill initdb or pg_ctl
        # half-way; run.py sees its stop flag once they return.
        result = subprocess.run(
            argv, capture_output=True, text=True, start_new_session=True, check=False
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise EmbeddedPostgresError(
                f"{tool} {' '.join(args)} failed (exit {result.returncode}):\n{output}"
                + self._log_tail()
            )
        return result

    def _log_tail(self, lines: int = 15) -> str:
        log = self.data_dir / "server.log"
        try:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\nlast lines of {log}:\n" + "\n".join(tail) if tail else ""

    # --- the life cycle ----------------------------------------------------------------------

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        # pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def _prepare_data_dir(self) -> None:
        socket_path = self.socket_dir / f".s.PGSQL.{PORT}"
        if len(str(socket_path).encode()) > MAX_SOCKET_PATH:
            raise EmbeddedPostgresError(
                f"the socket path {socket_path} is longer than {MAX_SOCKET_PATH} bytes: "
                "set KIZUNA_EMBEDDED_PGDATA to a shorter folder"
            )
        owner = self._owner()
        if owner is not None and not reachable_by(owner, self.data_dir.parent):
            raise EmbeddedPostgresError(
                f"the {owner!r} user cannot reach {self.data_dir}: let it pass through the "
                "folders above (chmod o+x) or set KIZUNA_EMBEDDED_PGDATA elsewhere"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            entry = pwd.getpwnam(owner)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def initialize(self) -> None:
        if any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster: "
                "remove it, or set KIZUNA_EMBEDDED_PGDATA to another folder"
            )
        self.say(f"creating a private PostgreSQL cluster in {self.data_dir} ({self.bindir})")
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",  # only the owner can open the socket (see the module docstring)
            "--encoding=UTF8",
            # C.UTF-8 as on a Debian cluster: pg_trgm then treats kana and kanji as letters.
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        settings = (
            "\n# Added by deploy/dev/embedded_pg.py: a Unix socket in the data directory only.\n"
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "unix_socket_permissions = 0700\n"
            f"port = {PORT}\n"
        )
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(settings)

    def start(self) -> None:
        if self.moved_because:
            self.say(f"the private PostgreSQL is not in var/embedded-pg: {self.moved_because}")
        self._prepare_data_dir()
        if not self.initialized():
            self.initialize()
        if self.running():
            # Left by a run that was killed before it could stop it: use it, stop it at the end.
            self.say(f"the private PostgreSQL in {self.data_dir} is already running: using it")
            self.started = True
            return
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT),
        )
        self.started = True
        self.say(f"private PostgreSQL started (socket in {self.socket_dir}, no TCP port)")

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.strip().isdigit() else None

    def stop(self) -> None:
        """Stop the server if this run started it: fast (sessions are ended), else immediate."""
        if not self.started:
            return
        self.started = False
        self.say(f"stopping the private PostgreSQL ({self.data_dir})")
        args = ["-D", str(self.data_dir), "-w", "-t", str(STOP_TIMEOUT)]
        result = self._run("pg_ctl", "stop", "-m", "fast", *args, check=False)
        if result.returncode != 0 and self.running():
            self.say("the private PostgreSQL did not stop in time: stopping it at once")
            self._run("pg_ctl", "stop", "-m", "immediate", *args, check=False)
