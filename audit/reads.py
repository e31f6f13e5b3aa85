"""The one rule for auditing reads: the selector that reads patient data audits it.

Pages, the API and the socket all read patient data through selectors, so auditing there
covers every way in, the same way, and adapters never write audit rows for reads:
- a selector that returns one patient's data (a patient, a thread's messages, a sync) writes
  its row as it reads (`audit.services.audit_record`, `audit_patients`);
- a selector that returns a list returns `AuditedRows`: one row per patient is written for the
  rows actually taken from it (the page a paginator slices, or all of them when iterated),
  never for the whole list the user could have paged through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from django.db.models import QuerySet

from audit.models import AuditAction
from audit.services import Actor, audit_record_many

T = TypeVar("T")


def audit_patients(
    actor: Actor, action: AuditAction, *, patient_ids: list[int | None], object_type: str
) -> None:
    """One `action` row per patient among `patient_ids` (each once, None skipped), in one query."""
    ids = sorted({pid for pid in patient_ids if pid is not None})
    audit_record_many(actor, action, patient_ids=ids, object_type=object_type)


class AuditedRows(Generic[T]):
    """A list of patient data that audits the rows taken from it.

    It offers what Django's and DRF's paginators use (`count`, slicing, `ordered`) and
    iteration; `audit(rows)` is called once with each batch of rows taken. Counting reads no
    patient data and writes nothing.
    """

    ordered = True  # the selector orders its queryset; Django's paginator checks this

    def __init__(self, queryset: QuerySet[Any], audit: Callable[[list[T]], None]) -> None:
        self._queryset = queryset
        self._audit = audit

    def count(self) -> int:
        return self._queryset.count()

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            rows: list[T] = list(self._queryset[index])
            self._audit(rows)
            return rows
        row: T = self._queryset[index]
        self._audit([row])
        return row

    def __iter__(self) -> Iterator[T]:
        rows: list[T] = list(self._queryset)
        self._audit(rows)
        return iter(rows)
