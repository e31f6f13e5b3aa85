"""Helpers for the tests of the dev tooling in deploy/dev/: loading its scripts, free ports,
and the processes a script left behind."""

from __future__ import annotations

import importlib
import os
import socket
import sys
from pathlib import Path
from types import ModuleType

BASE_DIR = Path(__file__).resolve().parents[2]
DEV_DIR = BASE_DIR / "deploy" / "dev"
RUN_PY = DEV_DIR / "run.py"


def load(name: str) -> ModuleType:
    """Import deploy/dev/<name>.py as the scripts see each other: from their own folder."""
    if str(DEV_DIR) not in sys.path:
        sys.path.insert(0, str(DEV_DIR))
    return importlib.import_module(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (in parentheses) may hold spaces: split after its closing parenthesis.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (ended, its parent not yet told) counts as gone."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in {"Z", "X"}


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from one look at /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents[int(entry)] = stat[1]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if alive(p)}
