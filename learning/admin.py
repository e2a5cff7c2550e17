from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from accounts.admin import SITE_FILTER
from learning.curve import curve_of, render_svg
from learning.lifecycle import LEARNUPLETS
from learning.models import Learnuplet
from learning.services import leaderboard
from orchestrator_site.admin import change_link, changelist_link, short_name_link, time_column
from problems.admin import AlgoAdmin, ProblemAdmin
from problems.models import Algo, Problem
from tasks.admin import QueueTaskAdmin, counts_by_status, status_table


@admin.register(Learnuplet)
class LearnupletAdmin(QueueTaskAdmin):
    lifecycle = LEARNUPLETS
    list_display = ("short_pk", "status", "rank", "problem_link", "algo_link", "site_link", "worker_link",
                    "rounded_perf", "attempt", "last_error_line", "created", "ended", "lease")
    list_filter = ("status", SITE_FILTER, "problem", "algo")
    list_select_related = ("algo", "site")
    # The (algo, rank) unique index serves this order, so a page never sorts the whole table.
    ordering = ("algo_id", "rank")
    uuid_search_fields = ("pk", "worker", "model_end", "algo_id", "problem_id")
    search_help_text = "A UUID (exact): the learnuplet, its worker, its model_end, its algo or its problem."
    fieldsets = (
        (None, {"fields": ("uuid", "status", "site", "problem", "algo", "rank", "previous_model", "model_start",
                           "model_end", "perf", "workflow")}),
        ("Queue", {"fields": ("worker", "attempt", "queued_at", "claimed_at", "heartbeat_at",
                              "lease_expires_at", "last_error", "training_creation", "training_done")}),
        ("Data and scores", {"classes": ("collapse",),
                             "fields": ("train_data", "test_data", "train_perf", "test_perf")}),
        ("History", {"fields": ("history",)}),
    )
    readonly_fields = ("history", "previous_model")

    created = time_column("training_creation", "created")
    ended = time_column("training_done", "ended")

    @admin.display(description="perf", ordering="perf")
    def rounded_perf(self, learnuplet: Learnuplet) -> SafeString | str:
        # 4 significant digits tell a chain's steps apart; the hover and the page give it whole.
        if learnuplet.perf is None:
            return "-"
        return format_html('<span title="{}">{}</span>', repr(learnuplet.perf), f"{learnuplet.perf:.4g}")

    @admin.display(description="algo", ordering="algo__name")
    def algo_link(self, learnuplet: Learnuplet) -> SafeString | str:
        return short_name_link(Algo, learnuplet.algo_id, learnuplet.algo.name)

    @admin.display(description="start model from")
    def previous_model(self, learnuplet: Learnuplet) -> SafeString | str:
        if learnuplet.model_start is None:
            return "not known yet (waiting for the previous rank)"
        if learnuplet.model_start == learnuplet.algo_id:
            return "the algo itself (untrained)"
        source = Learnuplet.objects.filter(model_end=learnuplet.model_start).values_list("pk", "rank").first()
        if source is None:
            return "-"
        return change_link(Learnuplet, source[0], f"learnuplet of rank {source[1]}")


# What learning computes of a problem and of an algo, on their pages. `problems.admin`
# registered the plain pages; this module imports it (so it ran first) and replaces them.
admin.site.unregister(Problem)
admin.site.unregister(Algo)


@admin.register(Problem)
class LearningProblemAdmin(ProblemAdmin):
    """The problem's page with its learnuplets by status, its leaderboard and its learning
    curve. `predictions.admin` adds the preduplets to the counts and the links."""

    fields = (*ProblemAdmin.fields, "status_counts", "leaderboard_table", "learning_curve")
    readonly_fields = ("status_counts", "leaderboard_table", "learning_curve")

    def record_links(self, problem: Problem) -> list[SafeString]:
        return [*super().record_links(problem),
                changelist_link(Learnuplet, "learnuplets", problem__uuid__exact=problem.pk)]

    def task_counts(self, problem: Problem) -> dict[str, dict[str, int]]:
        """The problem's tasks by status, a row per kind of task; the admins above add theirs."""
        return {"learnuplets": counts_by_status(Learnuplet, problem=problem)}

    @admin.display(description="tasks by status")
    def status_counts(self, problem: Problem) -> SafeString:
        return format_html("{}{}", status_table(self.task_counts(problem)), self.links(problem))

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
class LearningAlgoAdmin(AlgoAdmin):
    """The algo's page with its chain of learnuplets: a link to them, and their counts by status."""

    list_display = (*AlgoAdmin.list_display, "learnuplets")
    fields = (*AlgoAdmin.fields, "status_counts")
    readonly_fields = ("status_counts",)

    @admin.display(description="chain")
    def learnuplets(self, algo: Algo) -> SafeString:
        return changelist_link(Learnuplet, "learnuplets", algo__uuid__exact=algo.pk)

    @admin.display(description="learnuplets by status")
    def status_counts(self, algo: Algo) -> SafeString:
        return format_html("{}{}", status_table({"learnuplets": counts_by_status(Learnuplet, algo=algo)}),
                           self.learnuplets(algo))
