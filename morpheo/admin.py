"""The backlog of the push to a 2017 Compute, for operators: what is owed, what fails and
why; retry a delivery now, or drop it."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.models import Role
from accounts.roles import actor_name, role_of
from morpheo import outbox
from morpheo.models import Delivery
from orchestrator_site.admin import (
    ReadOnlyAdminMixin,
    UUIDSearchMixin,
    first_line,
    short_change_link,
    time_column,
)


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("queued", "queued (never tried)"), ("failing", "failing (tried)"),
                ("backing_off", "backing off (due later)"), ("sending", "being sent")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        now = timezone.now()
        states = {
            "queued": Q(attempts=0),
            "failing": Q(attempts__gt=0),
            "backing_off": Q(due_at__gt=now),
            "sending": Q(leased_until__gt=now),
        }
        value = self.value()
        return queryset.filter(states[value]) if value in states else queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, UUIDSearchMixin, admin.ModelAdmin[Delivery]):
    """Read-only rows, written by the dispatcher (morpheo/outbox.py); operators act through
    the two actions. A delivery leaves the list once the Compute has the task."""

    list_display = ("kind", "task_link", "ready", "due", "attempts", "last_error_line", "last_attempt", "sending")
    list_filter = (StateFilter, "kind")
    uuid_search_fields = ("task",)
    search_help_text = "A task's UUID (exact)."
    ordering = ("event",)
    list_per_page = 100
    actions = ("retry_now", "drop")

    class Media:
        css = {"all": ("tasks/dense_list.css",)}  # every column fits 1400 px beside the filters

    ready = time_column("ready_at", "ready since")
    due = time_column("due_at", "due")
    last_attempt = time_column("last_attempt_at", "last try")

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return role_of(request.user) == Role.OPERATOR

    @admin.display(description="task", ordering="task")
    def task_link(self, delivery: Delivery) -> SafeString | str:
        kind = outbox.KINDS.get(delivery.kind)
        return short_change_link(kind.model, delivery.task) if kind else str(delivery.task)

    @admin.display(description="last error")
    def last_error_line(self, delivery: Delivery) -> SafeString | str:
        return first_line(delivery.last_error, limit=64)

    @admin.display(description="being sent")
    def sending(self, delivery: Delivery) -> str:
        # Words, not Django's red cross: a delivery not being sent is no fault.
        return "yes" if delivery.leased_until is not None and delivery.leased_until > timezone.now() else "-"

    @admin.action(description="Send selected at the next pass (cut their back-off short)", permissions=["operate"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = outbox.retry_now(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliveries due now: the dispatcher sends them at its next pass "
                          "(at once if the Compute is up).")

    @admin.action(description="Drop selected: never send them (the tasks are not changed)", permissions=["operate"])
    def drop(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = outbox.drop(list(queryset.values_list("pk", flat=True)), actor=actor_name(request.user))
        self.message_user(request, f"Dropped {count} deliveries: the Compute will not be sent them.",
                          messages.WARNING if count else messages.INFO)
