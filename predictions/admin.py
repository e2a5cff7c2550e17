from django.contrib import admin
from django.utils.safestring import SafeString

from accounts.admin import SITE_FILTER
from learning.admin import LearningProblemAdmin
from learning.models import Learnuplet
from orchestrator_site.admin import change_link, changelist_link, changelist_url, short_uuid, time_column
from predictions.lifecycle import PREDUPLETS
from predictions.models import Preduplet
from problems.models import Problem
from tasks.admin import QueueTaskAdmin, counts_by_status


@admin.register(Preduplet)
class PredupletAdmin(QueueTaskAdmin):
    lifecycle = PREDUPLETS
    list_display = ("short_pk", "status", "problem_link", "model_link", "site_link", "worker_link", "attempt",
                    "last_error_line", "requested", "ended", "lease")
    list_filter = ("status", SITE_FILTER, "problem")
    list_select_related = ("site",)
    ordering = ("-timestamp_request", "-uuid")
    uuid_search_fields = ("pk", "worker", "model", "problem_id")
    search_help_text = "A UUID (exact): the preduplet, its worker, its model or its problem."
    fieldsets = (
        (None, {"fields": ("uuid", "status", "site", "problem", "model", "trained_by", "data", "prediction_storage_uuid",
                           "workflow", "created_by")}),
        ("Queue", {"fields": ("worker", "attempt", "queued_at", "claimed_at", "heartbeat_at",
                              "lease_expires_at", "last_error", "timestamp_request", "timestamp_done")}),
        ("History", {"fields": ("history",)}),
    )
    readonly_fields = ("history", "trained_by")

    requested = time_column("timestamp_request", "requested")
    ended = time_column("timestamp_done", "ended")

    @admin.display(description="model", ordering="model")
    def model_link(self, preduplet: Preduplet) -> SafeString | str:
        # To the learnuplet that trained it: the learnuplets' search finds it by its model_end.
        return short_uuid(preduplet.model, changelist_url(Learnuplet, q=preduplet.model))

    @admin.display(description="model trained by")
    def trained_by(self, preduplet: Preduplet) -> SafeString | str:
        source = Learnuplet.objects.filter(model_end=preduplet.model).values_list("pk", "rank").first()
        return change_link(Learnuplet, source[0], f"learnuplet of rank {source[1]}") if source else "-"


# The preduplets of a problem on its page, beside what learning shows there.
admin.site.unregister(Problem)


@admin.register(Problem)
class PredictionsProblemAdmin(LearningProblemAdmin):
    def record_links(self, problem: Problem) -> list[SafeString]:
        return [*super().record_links(problem),
                changelist_link(Preduplet, "preduplets", problem__uuid__exact=problem.pk)]

    def task_counts(self, problem: Problem) -> dict[str, dict[str, int]]:
        return {**super().task_counts(problem), "preduplets": counts_by_status(Preduplet, problem=problem)}
