from uuid import uuid4

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from problems.models import Problem
from tasks.models import QueueTask, Status


class Preduplet(QueueTask):
    """One prediction task: apply `model` to `data`, store predictions on Storage."""

    kind = "preduplet"
    ended_field = "timestamp_done"
    event_links = {"problem": "problem_id"}

    uuid = models.UUIDField(primary_key=True, default=uuid4, editable=False)
    problem = models.ForeignKey(Problem, on_delete=models.PROTECT, related_name="preduplets")
    workflow = models.UUIDField()
    data = ArrayField(models.UUIDField())
    prediction_storage_uuid = ArrayField(models.UUIDField(), default=list, blank=True)
    model = models.UUIDField(help_text="The trained model (a learnuplet's model_end).")
    timestamp_request = models.DateTimeField(auto_now_add=True)
    timestamp_done = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(QueueTask.Meta):
        ordering = ["timestamp_request", "uuid"]
        constraints = [
            *QueueTask.Meta.constraints,
            models.CheckConstraint(
                condition=~models.Q(status=Status.WAITING), name="preduplet_never_waiting"
            ),
        ]
        indexes = [
            *QueueTask.Meta.indexes,
            GinIndex(fields=["data"], name="preduplet_data_gin"),
            models.Index(fields=["problem", "status"], name="preduplet_problem_status"),
        ]

    def __str__(self) -> str:
        return f"preduplet {self.uuid}"
