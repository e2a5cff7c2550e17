"""What every admin of the project shares: cheap counts and UUID search for big tables,
links between records, read-only pages, and the compact columns of dense lists."""

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cached_property, reduce
from operator import or_
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    # What a mixin's super() reaches, for the type checker; at run time, the ModelAdmin
    # that the admin class names after the mixin.
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


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


def change_url(obj_or_model: Model | type[Model], pk: object) -> str:
    meta = obj_or_model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])


def changelist_url(model: type[Model], **params: object) -> str:
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def change_link(obj_or_model: Model | type[Model], pk: object, text: object = None) -> SafeString | str:
    """A link to a record's admin page, built from its primary key alone (no query)."""
    if pk is None:
        return "-"
    return format_html('<a href="{}">{}</a>', change_url(obj_or_model, pk), pk if text is None else text)


def changelist_link(model: type[Model], text: str, **params: object) -> SafeString:
    return format_html('<a href="{}">{}</a>', changelist_url(model, **params), text)


class WideListMixin(_ModelAdmin):
    """A list of many columns: its page leaves out the app list on the left, 300 px of a
    1400-px screen that the columns need (the breadcrumbs lead back to the index)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})


# What the lists show in their narrow columns: a list of twelve columns fits a 1400-px
# screen only with these, and each gives the whole value on hover or one click away.

SHORT_UUID = 8  # hex digits, 32 bits: two rows of a 100-row page share them once in a million pages


def short_uuid(value: uuid.UUID | str | None, url: str | None = None) -> SafeString | str:
    """A UUID by its first 8 hex digits; the whole one on hover, and at the link if any."""
    if value is None:
        return "-"
    whole = str(value)
    if url is None:
        return format_html('<span title="{}">{}</span>', whole, whole[:SHORT_UUID])
    return format_html('<a href="{}" title="{}">{}</a>', url, whole, whole[:SHORT_UUID])


def short_change_link(obj_or_model: Model | type[Model], pk: uuid.UUID | None) -> SafeString | str:
    """A short UUID linking to its record's admin page (no query)."""
    return "-" if pk is None else short_uuid(pk, change_url(obj_or_model, pk))


def breakable(text: str, every: int = 12) -> SafeString:
    """`text`, escaped, that a narrow column may wrap inside its long words too (every
    `every` characters), as well as at its spaces: a path or a UUID in an error, a name in
    CamelCase, no longer sets its column's width. Short words stay whole."""
    return mark_safe("".join(  # every piece is escaped
        "<wbr>".join(escape(word[i : i + every]) for i in range(0, len(word), every))
        for word in re.split(r"(\s+)", text)
    ))


def short_name(name: str, url: str, limit: int = 24, every: int = 12) -> SafeString:
    """A link by a name, cut at `limit` characters (all of it on hover), that may wrap
    every `every` characters (`breakable`)."""
    shown = name if len(name) <= limit else name[: limit - 1].rstrip() + "…"
    return format_html('<a href="{}" title="{}">{}</a>', url, name, breakable(shown, every))


def short_name_link(obj_or_model: Model | type[Model], pk: object, name: str, limit: int = 24) -> SafeString:
    """A link to a record's admin page by its name, cut at `limit` characters (all of it
    on hover)."""
    return short_name(name, change_url(obj_or_model, pk), limit)


def first_line(text: str, limit: int = 40, hover_limit: int = 2000) -> SafeString | str:
    """The first line of a text such as an error, cut at `limit` characters ("…" says
    there is more); the text on hover, up to `hover_limit` characters."""
    text = text.strip()
    if not text:
        return "-"
    line = text.splitlines()[0].rstrip()
    shown = line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    if shown == line and line != text:
        shown += " …"
    hover = text if len(text) <= hover_limit else text[: hover_limit - 1] + "…"
    return format_html('<span title="{}">{}</span>', hover, breakable(shown))


def exact_time(moment: datetime | None) -> str:
    """A date-time as the admin's pages show one (orchestrator_site.formats): to the
    second, in the current time zone, with its name."""
    if moment is None:
        return "-"
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def compact_time(moment: datetime | None) -> SafeString | str:
    """A date-time for a list's column: the exact time, which wraps after the date in a
    narrow column (and nowhere else: not at the date's hyphens, nor before the zone)."""
    if moment is None:
        return "-"
    day, _, clock = exact_time(moment).partition(" ")
    return format_html('<time datetime="{}"><span style="white-space: nowrap">{}</span> '
                       '<span style="white-space: nowrap">{}</span></time>',
                       timezone.localtime(moment).isoformat(), day, clock)


def time_column(field: str, description: str) -> Callable[[Any, Any], SafeString | str]:
    """A list column of a date-time field (`compact_time`), sorted by that field: in a
    ModelAdmin's body, `lease = time_column("lease_expires_at", "lease expires")`."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: Any, obj: Any) -> SafeString | str:
        return compact_time(getattr(obj, field))

    return column
