"""What every admin of the project shares: cheap counts and UUID search for big tables,
links between records, read-only pages."""

import json
import uuid
from datetime import datetime
from functools import cached_property, reduce
from operator import or_
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _reltuples(model: type[Model]) -> int:
    """The planner's row count of the table, as of the last VACUUM/ANALYZE; -1 if never analysed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [connection.ops.quote_name(model._meta.db_table)])
        row = cursor.fetchone()
    return int(row[0]) if row else -1


class EstimatedCountPaginator(Paginator[Model]):
    """Counts a big table without reading all of it on every page view.

    Unfiltered, the count is the planner's estimate (pg_class.reltuples, which autovacuum
    keeps current) unless that is small enough to count exactly. Filtered, at most CAP + 1
    rows are counted; past that the planner's estimate for the filter is shown. Past the
    estimate's end a page may come up short; operators filter rather than page that far.
    """

    exact_below = 10_000
    cap = 10_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return super().count
        if not rows.query.where:
            estimate = _reltuples(rows.model)
            return estimate if estimate >= self.exact_below else rows.count()
        capped = rows.order_by()[: self.cap + 1].count()
        if capped <= self.cap:
            return capped
        plan = json.loads(rows.order_by().explain(format="json"))
        return max(self.cap + 1, int(plan[0]["Plan"]["Plan Rows"]))


class UUIDSearchMixin:
    """Search by exact UUID over indexed columns, instead of admin's text match (a full scan)."""

    # ModelAdmin's own types: a mixin must declare them as its other base does.
    search_fields: ClassVar[list[str] | tuple[str, ...]] = ("uuid",)  # shows the box; get_search_results searches
    search_help_text: ClassVar["StrOrPromise | None"] = "A UUID (exact)."
    uuid_search_fields: ClassVar[tuple[str, ...]] = ("pk",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            return self.search_text(queryset, term), False
        lookups = [Q(**{f: [value] if f.endswith("__contains") else value}) for f in self.uuid_search_fields]
        return queryset.filter(reduce(or_, lookups)), False

    def search_text(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        return queryset.none()


class ReadOnlyAdminMixin:
    """Pages to read, never to add, change or delete records: the records change through
    the API's services and the admin's actions, which keep the rules the forms would not.
    Each admin that uses this says why in its docstring."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def change_link(obj_or_model: Model | type[Model], pk: object, text: object = None) -> SafeString | str:
    """A link to a record's admin page, built from its primary key alone (no query)."""
    if pk is None:
        return "-"
    meta = obj_or_model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, pk if text is None else text)


def changelist_link(model: type[Model], text: str, **params: object) -> SafeString:
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


def exact_time(moment: datetime | None) -> str:
    """A date-time as the admin's pages show one (orchestrator_site.formats): to the
    second, in the current time zone, with its name."""
    if moment is None:
        return "-"
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
