"""SQL compiled once from an ORM expression, its per-call values bound later.

The access rule is written once, in the ORM (`patients.access`, `messaging.access`). It also
runs on the hot paths (every post, every history read, every reconnect), where building and
compiling the ORM expression costs more than PostgreSQL takes to run it (docs/bench.md). So
the expression is compiled once per process with a sentinel in place of each value that
changes per call (the user, the patient, the day, the instant); `SqlTemplate` remembers where
each sentinel went and puts the real values there per call. The SQL is the ORM's own: there
is no second, hand-written copy of the rule to keep in step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet


@dataclass(frozen=True)
class Slot:
    """A value that changes per call, and the sentinel that stands for it when compiling.

    The sentinel has the real value's type, so it compiles exactly as the real value would,
    and a value no real call uses, so it is found again among the compiled parameters.
    """

    name: str
    sentinel: Any


# The slots of the access rule. Ids below any real key; days and instants in the year 1.
USER = Slot("user", -(2**62) + 11)
PATIENT = Slot("patient", -(2**62) + 12)
TODAY = Slot("today", dt.date(1, 1, 3))
NOW = Slot("now", dt.datetime(1, 1, 3, 4, 5, 6, 7, tzinfo=dt.UTC))


@dataclass(frozen=True)
class SqlTemplate:
    """SQL text with "%s" placeholders; for each, a fixed value or the `Slot` it binds."""

    sql: str
    params: tuple[Any, ...]

    @classmethod
    def of_queryset(cls, queryset: QuerySet[Any], slots: Sequence[Slot]) -> SqlTemplate:
        """The whole SELECT of `queryset`."""
        compiler = queryset.query.get_compiler(DEFAULT_DB_ALIAS)
        sql, params = compiler.as_sql()
        return cls._found(sql, params, slots)

    @classmethod
    def of_condition(cls, queryset: QuerySet[Any], slots: Sequence[Slot]) -> SqlTemplate:
        """Only the WHERE condition of `queryset`, to AND into a statement that reads the
        same table under its own name (the condition names its columns "table"."column")."""
        compiler = queryset.query.get_compiler(DEFAULT_DB_ALIAS)
        compiler.pre_sql_setup()
        if compiler.where is None:
            raise ValueError("the queryset has no condition")
        sql, params = compiler.compile(compiler.where)
        return cls._found(sql, params, slots)

    @classmethod
    def _found(cls, sql: str, params: Sequence[Any], slots: Sequence[Slot]) -> SqlTemplate:
        if sql.count("%s") != len(params):
            raise ValueError("the compiled SQL's placeholders do not match its parameters")
        by_sentinel = [(slot.sentinel, slot) for slot in slots]
        found = tuple(next((s for v, s in by_sentinel if _same(v, p)), p) for p in params)
        return cls(sql, found)

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        """The parameters for one call: each slot's value from `values`, by slot name."""
        return [values[p.name] if isinstance(p, Slot) else p for p in self.params]

    def put(self, slot: Slot, sql: str) -> SqlTemplate:
        """This template with `slot` written as the SQL expression `sql` instead of a
        parameter (e.g. a column of the enclosing statement)."""
        parts = self.sql.split("%s")
        text, params = parts[0], []
        for param, part in zip(self.params, parts[1:], strict=True):
            if param == slot:
                text += f"({sql})"
            else:
                text += "%s"
                params.append(param)
            text += part
        return SqlTemplate(text, tuple(params))

    def named(self, prefix: str) -> tuple[str, NamedParams]:
        """The SQL with named placeholders (`%(<prefix>0)s`, ...) for a statement written
        with named parameters, and what binds them."""
        parts = self.sql.split("%s")
        names = [f"{prefix}{i}" for i in range(len(self.params))]
        text = parts[0] + "".join(
            f"%({name})s{part}" for name, part in zip(names, parts[1:], strict=True)
        )
        return text, NamedParams(tuple(zip(names, self.params, strict=True)))


@dataclass(frozen=True)
class NamedParams:
    """The named parameters of a `SqlTemplate.named` text."""

    items: tuple[tuple[str, Any], ...]

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: values[p.name] if isinstance(p, Slot) else p for name, p in self.items}


def _same(sentinel: Any, param: Any) -> bool:
    # bool is an int: True == 1 must not pass for a sentinel id.
    return type(param) is type(sentinel) and bool(param == sentinel)


def model_table(model: type[Model]) -> str:
    """The quoted table name of `model`."""
    from django.db import connection

    return str(connection.ops.quote_name(model._meta.db_table))
