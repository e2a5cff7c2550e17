from django.contrib import admin
from django.utils.safestring import SafeString

from learning.models import Learnuplet
from orchestrator_site.admin import change_link
from problems.models import Algo
from tasks.admin import QueueTaskAdmin


@admin.register(Learnuplet)
class LearnupletAdmin(QueueTaskAdmin):
    list_display = ("uuid", "status", "rank", "problem_link", "algo_link", "worker", "perf", "attempt",
                    "training_creation", "training_done", "lease_expires_at")
    list_filter = ("status", "problem", "algo")
    list_select_related = ("algo",)
    # The (algo, rank) unique index serves this order, so a page never sorts the whole table.
    ordering = ("algo_id", "rank")
    uuid_search_fields = ("pk", "worker", "model_end", "algo_id", "problem_id")
    search_help_text = "A UUID (exact): the learnuplet, its worker, its model_end, its algo or its problem."
    fieldsets = (
        (None, {"fields": ("uuid", "status", "problem", "algo", "rank", "previous_model", "model_start",
                           "model_end", "perf", "workflow")}),
        ("Queue", {"fields": ("worker", "attempt", "queued_at", "claimed_at", "heartbeat_at",
                              "lease_expires_at", "last_error", "training_creation", "training_done")}),
        ("Data and scores", {"classes": ("collapse",),
                             "fields": ("train_data", "test_data", "train_perf", "test_perf")}),
        ("History", {"fields": ("history",)}),
    )
    readonly_fields = ("history", "previous_model")

    @admin.display(description="algo", ordering="algo__name")
    def algo_link(self, learnuplet: Learnuplet) -> SafeString | str:
        return change_link(Algo, learnuplet.algo_id, learnuplet.algo.name)

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
