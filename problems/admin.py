"""Problems, algos and data for operators: read-only (registration goes through the API's
services, which generate the learnuplets), but for a problem's priority and run-time limit.

The apps above add to these pages what they compute (learning: a problem's leaderboard,
learning curve and learnuplets; predictions: its preduplets), each by registering a
subclass of these admins: `problems` imports none of them.
"""

from typing import Any, ClassVar, TypeVar

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.admin import SITE_FILTER, site_column
from orchestrator_site.admin import (
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    UUIDSearchMixin,
    changelist_link,
    short_change_link,
    time_column,
)
from problems.models import Algo, Data, Problem
from problems.services import problem_configure as configure_problem

M = TypeVar("M", bound=Model)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[M]):
    """No adding: register through the API, so that learnuplets are generated. No
    deleting: tasks and other records refer to it."""


@admin.register(Problem)
class ProblemAdmin(UUIDSearchMixin, ReadOnlyAdmin[Problem]):
    list_display: tuple[str, ...] = (
        "uuid", "uploaded", "size_train_dataset", "higher_is_better", "created_by", "links",
    )
    list_filter = ("higher_is_better",)
    list_select_related = ("created_by",)
    uuid_search_fields = ("pk", "workflow", "test_dataset__contains")
    search_help_text = "A UUID (exact): the problem, its workflow or one of its test data."
    fields: ClassVar[tuple[str, ...]] = ("uuid", "workflow", "size_train_dataset", "higher_is_better",
                                         "priority", "max_run_seconds", "timestamp_upload", "created_by",
                                         "test_dataset")
    # Operators set a problem's priority and run-time limit here (or PATCH problems/{uuid}/);
    # the rest is what was registered.
    editable_fields = ("priority", "max_run_seconds")

    uploaded = time_column("timestamp_upload", "uploaded")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Django's own rule (ReadOnlyAdmin says no): operators are superusers.
        return bool(request.user.is_active and request.user.has_perm("problems.change_problem"))

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f not in self.editable_fields)

    def save_model(self, request: HttpRequest, obj: Problem, form: Any, change: bool) -> None:
        # Through the service: the problem's tasks follow (its post_save), in this transaction.
        configure_problem(obj.pk, priority=obj.priority, max_run_seconds=obj.max_run_seconds)

    def record_links(self, problem: Problem) -> list[SafeString]:
        """Links to the lists of the problem's records; the admins of the apps above add theirs."""
        return [changelist_link(Algo, "algos", problem__uuid__exact=problem.pk)]

    @admin.display(description="records")
    def links(self, problem: Problem) -> SafeString:
        return format_html_join(" · ", "{}", ((link,) for link in self.record_links(problem)))


@admin.register(Algo)
class AlgoAdmin(UUIDSearchMixin, ReadOnlyAdmin[Algo]):
    list_display: tuple[str, ...] = ("name_column", "uuid", "problem_link", "uploaded", "created_by")
    list_filter = ("problem",)
    list_select_related = ("created_by",)
    uuid_search_fields = ("pk", "problem_id")
    search_help_text = "A UUID (exact): the algo or its problem; or part of a name."
    fields: ClassVar[tuple[str, ...]] = ("uuid", "name", "problem", "timestamp_upload", "created_by")

    uploaded = time_column("timestamp_upload", "uploaded")

    @admin.display(description="name", ordering="name")
    def name_column(self, algo: Algo) -> SafeString:
        # A name of one long word wraps rather than push the list past the screen.
        return format_html('<span style="overflow-wrap: anywhere">{}</span>', algo.name)

    def search_text(self, queryset: QuerySet[Algo], term: str) -> QuerySet[Algo]:
        return queryset.filter(name__icontains=term)

    @admin.display(description="problem", ordering="problem_id")
    def problem_link(self, algo: Algo) -> SafeString | str:
        return short_change_link(Problem, algo.problem_id)


class DataProblemFilter(admin.SimpleListFilter):
    title = "problem"
    parameter_name = "problem"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(str(pk), str(pk)) for pk in Problem.objects.values_list("pk", flat=True)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Data]) -> QuerySet[Data]:
        # GIN index on problems.
        return queryset.filter(problems__contains=[self.value()]) if self.value() else queryset


@admin.register(Data)
class DataAdmin(UUIDSearchMixin, ReadOnlyAdmin[Data]):
    list_display = ("uuid", "seq", "site_link", "uploaded", "problem_links", "created_by")
    list_filter = (SITE_FILTER, DataProblemFilter)
    list_select_related = ("created_by", "site")
    ordering = ("-seq",)
    uuid_search_fields = ("pk", "problems__contains")
    search_help_text = "A UUID (exact): the data or one of its problems."
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    uploaded = time_column("timestamp_upload", "uploaded")

    @admin.display(description="problems")
    def problem_links(self, data: Data) -> SafeString:
        return format_html_join(", ", "{}", ((short_change_link(Problem, pk),) for pk in data.problems))

    @admin.display(description="site", ordering="site__name")
    def site_link(self, data: Data) -> SafeString:
        return site_column(Data, data.site)
