"""Problems, algos and data for operators: read-only (registration goes through the API's
services, which generate the learnuplets), with a problem's leaderboard, status counts and
learning curve on its page."""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from learning.curve import curve_of, render_svg
from learning.models import Learnuplet
from learning.services import leaderboard
from orchestrator_site.admin import (
    EstimatedCountPaginator,
    ReadOnlyAdminMixin,
    UUIDSearchMixin,
    change_link,
    changelist_link,
)
from predictions.models import Preduplet
from problems.models import Algo, Data, Problem
from tasks.models import Status


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """No adding: register through the API, so that learnuplets are generated. No
    deleting: tasks and other records refer to it."""


def _status_table(counts: dict[str, dict[str, int]]) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((s,) for s in Status.values))
    rows = format_html_join(
        "", "<tr><th>{}</th>{}</tr>",
        ((kind, format_html_join("", "<td>{}</td>", ((n.get(s, 0),) for s in Status.values)))
         for kind, n in counts.items()),
    )
    return format_html("<table><thead><tr><th></th>{}</tr></thead><tbody>{}</tbody></table>", head, rows)


def _counts(model: type[Learnuplet] | type[Preduplet], **where: Any) -> dict[str, int]:
    # The (problem, status) and (algo, status, perf) indexes serve this.
    rows = model.objects.filter(**where).order_by().values_list("status").annotate(n=Count("pk"))
    return dict(rows)


@admin.register(Problem)
class ProblemAdmin(UUIDSearchMixin, ReadOnlyAdmin):
    list_display = ("uuid", "timestamp_upload", "size_train_dataset", "higher_is_better", "created_by", "links")
    list_filter = ("higher_is_better",)
    list_select_related = ("created_by",)
    uuid_search_fields = ("pk", "workflow", "test_dataset__contains")
    search_help_text = "A UUID (exact): the problem, its workflow or one of its test data."
    fields = ("uuid", "workflow", "size_train_dataset", "higher_is_better", "timestamp_upload", "created_by",
              "test_dataset", "status_counts", "leaderboard_table", "learning_curve")
    readonly_fields = ("status_counts", "leaderboard_table", "learning_curve")

    @admin.display(description="records")
    def links(self, problem: Problem) -> SafeString:
        return format_html(
            "{} · {} · {}",
            changelist_link(Algo, "algos", problem__uuid__exact=problem.pk),
            changelist_link(Learnuplet, "learnuplets", problem__uuid__exact=problem.pk),
            changelist_link(Preduplet, "preduplets", problem__uuid__exact=problem.pk),
        )

    @admin.display(description="tasks by status")
    def status_counts(self, problem: Problem) -> SafeString:
        return format_html("{}{}", _status_table({
            "learnuplets": _counts(Learnuplet, problem=problem),
            "preduplets": _counts(Preduplet, problem=problem),
        }), self.links(problem))

    @admin.display(description="leaderboard")
    def leaderboard_table(self, problem: Problem) -> SafeString:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((change_link(Algo, r.algo, r.name), "-" if r.perf is None else f"{r.perf:.6g}",
              "-" if r.rank is None else r.rank, r.model or "-", r.done, r.failed, r.total)
             for r in leaderboard(problem)),
        )
        return format_html(
            "<table><thead><tr><th>algo</th><th>best perf</th><th>at rank</th><th>model</th><th>done</th>"
            "<th>failed</th><th>learnuplets</th></tr></thead><tbody>{}</tbody></table>", rows,
        )

    @admin.display(description="learning curve")
    def learning_curve(self, problem: Problem) -> SafeString:
        # render_svg escapes every text that comes from the database.
        return mark_safe(render_svg(curve_of(problem), higher_is_better=problem.higher_is_better))


@admin.register(Algo)
class AlgoAdmin(UUIDSearchMixin, ReadOnlyAdmin):
    list_display = ("name", "uuid", "problem_link", "timestamp_upload", "created_by", "learnuplets")
    list_filter = ("problem",)
    list_select_related = ("created_by",)
    uuid_search_fields = ("pk", "problem_id")
    search_help_text = "A UUID (exact): the algo or its problem; or part of a name."
    fields = ("uuid", "name", "problem", "timestamp_upload", "created_by", "status_counts")
    readonly_fields = ("status_counts",)

    def search_text(self, queryset: QuerySet[Algo], term: str) -> QuerySet[Algo]:
        return queryset.filter(name__icontains=term)

    @admin.display(description="problem", ordering="problem_id")
    def problem_link(self, algo: Algo) -> SafeString | str:
        return change_link(Problem, algo.problem_id)

    @admin.display(description="chain")
    def learnuplets(self, algo: Algo) -> SafeString:
        return changelist_link(Learnuplet, "learnuplets", algo__uuid__exact=algo.pk)

    @admin.display(description="learnuplets by status")
    def status_counts(self, algo: Algo) -> SafeString:
        return format_html("{}{}", _status_table({"learnuplets": _counts(Learnuplet, algo=algo)}),
                           self.learnuplets(algo))


class DataProblemFilter(admin.SimpleListFilter):
    title = "problem"
    parameter_name = "problem"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(pk), str(pk)) for pk in Problem.objects.values_list("pk", flat=True)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Data]) -> QuerySet[Data]:
        # GIN index on problems.
        return queryset.filter(problems__contains=[self.value()]) if self.value() else queryset


@admin.register(Data)
class DataAdmin(UUIDSearchMixin, ReadOnlyAdmin):
    list_display = ("uuid", "seq", "timestamp_upload", "problem_links", "created_by")
    list_filter = (DataProblemFilter,)
    list_select_related = ("created_by",)
    ordering = ("-seq",)
    uuid_search_fields = ("pk", "problems__contains")
    search_help_text = "A UUID (exact): the data or one of its problems."
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="problems")
    def problem_links(self, data: Data) -> SafeString:
        return format_html_join(", ", "{}", ((change_link(Problem, pk),) for pk in data.problems))
