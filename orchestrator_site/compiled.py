"""Statements the ORM compiles once and runs many times: the hot path of a worker's
request, and only that (`tasks.queue` and the token lookup in `accounts.auth`; an
import-linter contract keeps every other module from importing this one).

Django compiles a queryset to SQL every time it runs. For the few statements of a claim
and a result that compiling costs more CPU than PostgreSQL spends executing them (about
half of a claim-and-result cycle). A statement written with `Param` placeholders where
its values go is compiled on first use, kept under a key, and run again with new values.

The key must name everything that changes the SQL text (the model, which filters and
columns); values that change from call to call must be `Param`s, never constants, and
nothing read from settings may be compiled in.
"""

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.sql
from psycopg.pq import ExecStatus
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Expression, Field


class Param(Expression):
    """A named placeholder, bound to a value when the compiled statement runs.

    With an `output_field`, the value is converted for the database by that field, as
    the ORM would convert a constant (a dict into JSONB, a list into an array...).
    """

    def __init__(self, name: str, output_field: "Field[Any, Any] | None" = None) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def __repr__(self) -> str:
        return f"Param({self.name!r})"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        # The Param itself goes in the parameters: `compiled` keeps it there, to bind.
        return "%s", [self]


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        bound = []
        for param in self.params:
            if isinstance(param, Param):
                value = values[param.name]
                field = param._output_field_or_none  # type: ignore[attr-defined]  # Django's, not in the stubs
                if field is not None and value is not None:
                    value = field.get_db_prep_value(value, connection, prepared=False)
                bound.append(value)
            else:
                bound.append(param)
        return bound


TUPLES_OK = ExecStatus.TUPLES_OK
_compiled: dict[Hashable, Statement] = {}


def compiled(key: Hashable, build: Callable[[], tuple[str, Sequence[Any]]]) -> Statement:
    """The statement kept under `key`, built (SQL and parameters with Params) on first use.

    Two threads compiling the same key at once both store an identical statement.
    """
    statement = _compiled.get(key)
    if statement is None:
        # Django refuses to compile SELECT ... FOR UPDATE outside a transaction, and a claim
        # runs without one. Compiling sends nothing to the database, so this costs nothing.
        with transaction.atomic(savepoint=False):
            sql, params = build()
            statement = _compiled[key] = _with_constants_inlined(sql, params)
    return statement


_PLACEHOLDER = re.compile(r"(%%|%s)")


def _with_constants_inlined(sql: str, params: Sequence[Any]) -> Statement:
    """The statement with every parameter that is not a Param written into the SQL.

    Those are constants of the key (a status, a 1 to add). As parameters they would hide
    from PostgreSQL's planner what a prepared statement's generic plan needs: `status =
    $1` cannot use the partial index `WHERE status = 'todo'`, so every claim was planned
    again.
    """
    values = iter(params)
    kept: list[Any] = []
    parts = []
    for part in _PLACEHOLDER.split(sql):
        if part != "%s":
            parts.append(part)
            continue
        value = next(values)
        if isinstance(value, Param):
            parts.append(part)
            kept.append(value)
        else:
            parts.append(psycopg.sql.Literal(value).as_string(connection.connection).replace("%", "%%"))
    return Statement("".join(parts), tuple(kept))


def fetch(
    key: Hashable | None, build: Callable[[], tuple[str, Sequence[Any]]], params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run the statement `build` makes (compiled once under `key`, or every time when the
    key is None) with `params`; return its rows."""
    if key is not None:
        statement = compiled(key, build)
    else:
        sql, raw = build()
        statement = Statement(sql, tuple(raw))
    return run(statement, params or {})


def run(statement: Statement, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Execute `statement` with `params` bound; return its rows.

    Parameters are bound server-side, so psycopg prepares the statement after
    `prepare_threshold` uses on a connection (settings.DJANGO_DB_PREPARE_THRESHOLD) and
    PostgreSQL stops parsing and planning it: a third of the database's CPU per claim.
    The cursor is still Django's, so query logging and execute wrappers see it.
    """
    db = connections[DEFAULT_DB_ALIAS]  # one lookup of the thread's connection, not five
    # What Django's own cursor() does first: a reused connection that died (a database
    # restart) is replaced before the request uses it (CONN_HEALTH_CHECKS).
    db.close_if_health_check_failed()
    db.ensure_connection()
    server_bound = psycopg.Cursor(db.connection)  # Django's own cursors bind client-side
    wrap = db.make_debug_cursor if db.queries_logged else db.make_cursor
    with wrap(server_bound) as cursor:  # type: ignore[arg-type]  # any DB-API cursor will do: Django wraps it
        cursor.execute(statement.sql, statement.bind(params))
        # From psycopg's cursor itself: Django's wrapper, and `description` (which builds
        # a column object per column), cost more than the fetch.
        result = server_bound.pgresult
        return server_bound.fetchall() if result is not None and result.status == TUPLES_OK else []
