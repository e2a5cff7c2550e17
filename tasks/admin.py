"""The admin of the task queue, and what every big-table admin of the project shares.

Operators change tasks only through actions, which call `tasks.operations` (as the
management commands do): the task pages themselves are read-only.
"""

import json
import uuid
from functools import cached_property, reduce
from operator import or_
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.models import Role
from accounts.roles import actor_name, role_of
from tasks import operations
from tasks.models import QueueTask, TaskEvent, TaskKind

HISTORY_LIMIT = 500


def _reltuples(model: type[Model]) -> int:
    """The planner's row count of the table, as of the last VACUUM/ANALYZE; -1 if never analysed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [connection.ops.quote_name(model._meta.db_table)])
        row = cursor.fetchone()
    return int(row[0]) if row else -1


class EstimatedCountPaginator(Paginator):
    """Counts a big table without reading all of it on every page view.

    Unfiltered, the count is the planner's estimate (pg_class.reltuples, which autovacuum
    keeps current) unless that is small enough to count exactly. Filtered, at most CAP + 1
    rows are counted; past that the planner's estimate for the filter is shown. Past the
    estimate's end a page may come up short; operators filter rather than page that far.
    """

    exact_below = 10_000
    cap = 10_000

    @cached_property
    def count(self) -> int:  # type: ignore[override]
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

    search_fields: tuple[str, ...] = ("uuid",)  # shows the search box; get_search_results does the work
    search_help_text = "A UUID (exact)."
    uuid_search_fields: tuple[str, ...] = ("pk",)

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


class TaskActionForm(ActionForm):
    reason = forms.CharField(
        required=False, max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "reason, kept in each task's history", "size": 36}),
    )
    force = forms.BooleanField(required=False, label="force (also live leases)")


class QueueTaskAdmin(UUIDSearchMixin, admin.ModelAdmin):
    """Read-only task pages with the task's event history; changes through the actions."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # that is a second full COUNT(*) per page view
    list_per_page = 100
    action_form = TaskActionForm
    actions = ("requeue_failed", "requeue_stale", "mark_failed")
    queue_fields: tuple[str, ...] = (
        "status", "worker", "attempt", "queued_at", "claimed_at", "heartbeat_at", "lease_expires_at", "last_error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are generated by registrations and prediction requests

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # the history must stay whole

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return role_of(request.user) == Role.OPERATOR

    @admin.display(description="history")
    def history(self, task: QueueTask) -> SafeString:
        events = list(
            TaskEvent.objects.filter(kind=task.kind, task=task.pk).order_by("-at", "-id")[:HISTORY_LIMIT]
        )
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{e.at:%Y-%m-%d %H:%M:%S}", e.from_status or "-", e.to_status, e.attempt,
              e.worker or "-", e.actor, e.reason) for e in reversed(events)),
        )
        note = f"Last {HISTORY_LIMIT} events. " if len(events) == HISTORY_LIMIT else ""
        return format_html(
            '{}<table><thead><tr><th>at</th><th>from</th><th>to</th><th>attempt</th><th>worker</th>'
            "<th>by</th><th>reason</th></tr></thead><tbody>{}</tbody></table>{}",
            note, rows, changelist_link(TaskEvent, "all events of this task", task=task.pk),
        )

    @admin.display(description="problem", ordering="problem_id")
    def problem_link(self, task: QueueTask) -> SafeString | str:
        return change_link(task._meta.get_field("problem").related_model, task.problem_id)  # type: ignore[attr-defined]

    def _reason(self, request: HttpRequest, default: str) -> tuple[str, bool]:
        form = self.action_form(request.POST)
        form.is_valid()
        data = getattr(form, "cleaned_data", {})
        return (data.get("reason") or "").strip() or default, bool(data.get("force"))

    def _report(self, request: HttpRequest, outcome: operations.Outcome, selected: int, what: str) -> None:
        name = self.model._meta.verbose_name_plural
        self.message_user(request, f"{what} {outcome.count} of the {selected} selected {name}.",
                          messages.SUCCESS if outcome.count else messages.WARNING)
        if outcome.released:
            self.message_user(request, f"{len(outcome.released)} of them released at once: their previous "
                              "rank had ended.")
        if outcome.refused:
            self.message_user(request, f"Left {outcome.refused} alone: their lease is live. Tick 'force' to "
                              "take them too.", messages.WARNING)

    @admin.action(description="Re-queue selected failed tasks", permissions=["operate"])
    def requeue_failed(self, request: HttpRequest, queryset: QuerySet[QueueTask]) -> None:
        reason, _ = self._reason(request, "re-queued in the admin")
        outcome = operations.requeue_failed(
            self.model, where=Q(pk__in=queryset.values("pk")), actor=actor_name(request.user), reason=reason,
        )
        self._report(request, outcome, queryset.count(), "Re-queued")

    @admin.action(description="Re-queue selected stale pending tasks (lease expired)", permissions=["operate"])
    def requeue_stale(self, request: HttpRequest, queryset: QuerySet[QueueTask]) -> None:
        reason, force = self._reason(request, "stale claim re-queued in the admin")
        outcome = operations.requeue_stale(
            self.model, where=Q(pk__in=queryset.values("pk")), actor=actor_name(request.user), reason=reason,
            force=force,
        )
        self._report(request, outcome, queryset.count(), "Re-queued")

    @admin.action(description="Mark selected as failed (give a reason)", permissions=["operate"])
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[QueueTask]) -> None:
        reason, _ = self._reason(request, "")
        if not reason:
            self.message_user(request, "Write the reason in the box next to the action, then run it again.",
                              messages.ERROR)
            return
        outcome = operations.mark_failed(
            self.model, where=Q(pk__in=queryset.values("pk")), actor=actor_name(request.user), reason=reason,
        )
        self._report(request, outcome, queryset.count(), "Marked failed")


_TASK_ADMIN = {TaskKind.LEARNUPLET: ("learning", "learnuplet"), TaskKind.PREDUPLET: ("predictions", "preduplet")}


@admin.register(TaskEvent)
class TaskEventAdmin(UUIDSearchMixin, admin.ModelAdmin):
    list_display = ("id", "at", "kind", "task_link", "from_status", "to_status", "attempt", "worker", "actor",
                    "reason")
    list_display_links = ("id",)
    list_filter = ("kind", "to_status", "from_status")
    uuid_search_fields = ("task", "worker")
    search_help_text = "A task or worker UUID (exact)."
    ordering = ("-id",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # append-only

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The task page links here with ?task=<uuid>.
        return lookup == "task" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="task", ordering="task")
    def task_link(self, event: TaskEvent) -> SafeString:
        app, model = _TASK_ADMIN[TaskKind(event.kind)]
        url = reverse(f"admin:{app}_{model}_change", args=[event.task])
        return format_html('<a href="{}">{}</a>', url, event.task)
