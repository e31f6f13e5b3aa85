"""`python manage.py verify_audit`: seal what can be sealed, then check the audit log's hash
chain from its first row to its last (docs/audit.md).

Exits 0 with a summary (rows checked, last seq, head hash) when the chain is intact, or 1
naming the first broken row and what is wrong with it. `--anchor SEQ:HASH` (repeatable) also
checks heads printed earlier and kept outside the database: a chain recomputed from scratch by
someone who can write the tables verifies on its own, but not against them. `--no-seal` only
reads (for a read-only standby).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import chain


def _anchor(value: str) -> tuple[int, bytes]:
    seq, sep, digest = value.partition(":")
    try:
        if not sep:
            raise ValueError(value)
        parsed = (int(seq), bytes.fromhex(digest))
    except ValueError:
        raise CommandError(f"--anchor takes SEQ:HASH (hex), not {value!r}") from None
    if len(parsed[1]) != 32:
        raise CommandError(f"--anchor: a hash is 64 hex digits, not {digest!r}")
    return parsed


class Command(BaseCommand):
    help = "Seal the audit log, then check its hash chain and name the first broken row."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-seal", action="store_true", help="check only, write nothing")
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="a head printed earlier (seq and hash): the chain must still hold it",
        )
        parser.add_argument("--chunk", type=int, default=chain.VERIFY_CHUNK, help="rows per fetch")

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = [_anchor(value) for value in options["anchor"]]
        if not options["no_seal"]:
            sealed = chain.seal()
            self.stdout.write(
                f"sealed {sealed.sealed} rows"
                + (f" (put off: {sealed.deferred})" if sealed.deferred else "")
            )
        report = chain.verify(chunk=max(1, options["chunk"]))
        self.stdout.write(report.summary())
        if report.unsealed_old:
            self.stderr.write(
                f"warning: {report.unsealed_old} rows are still unsealed after minutes:"
                " is the sealer (Celery beat, audit.seal) running?"
            )
        if report.broken is not None:
            b = report.broken
            row = f"row {b.event_id}" if b.event_id is not None else "no row"
            raise CommandError(f"first broken: {row}, seq {b.seq} [{b.kind}]: {b.message}")
        for seq, digest in anchors:
            problem = chain.check_anchor(seq, digest)
            if problem:
                raise CommandError(f"anchor {seq}: {problem}")
            self.stdout.write(f"anchor {seq}:{digest.hex()} holds")
