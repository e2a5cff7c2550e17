from uuid import uuid4

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now

from problems.models import Algo, Problem
from tasks.models import QueueTask, Status


class Learnuplet(QueueTask):
    """One training task: train `model_start` on one mini-batch, save `model_end`."""

    kind = "learnuplet"
    ended_field = "training_done"
    event_links = {"problem": "problem_id", "algo": "algo_id"}
    chain = ("algo", "rank")

    uuid = models.UUIDField(primary_key=True, default=uuid4, editable=False)
    problem = models.ForeignKey(Problem, on_delete=models.PROTECT, related_name="learnuplets")
    workflow = models.UUIDField()
    train_data = ArrayField(models.UUIDField())
    test_data = ArrayField(models.UUIDField(), default=list, blank=True)
    algo = models.ForeignKey(Algo, on_delete=models.PROTECT, related_name="learnuplets")
    model_start = models.UUIDField(
        null=True, blank=True, help_text="Known once the previous rank has reported."
    )
    model_end = models.UUIDField(default=uuid4, unique=True)
    rank = models.PositiveIntegerField()
    perf = models.FloatField(null=True, blank=True)
    # Database defaults too: generation's INSERT ... SELECT leaves these columns out.
    test_perf = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    train_perf = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    training_creation = models.DateTimeField(auto_now_add=True, db_default=Now())
    training_done = models.DateTimeField(null=True, blank=True)

    class Meta(QueueTask.Meta):
        ordering = ["training_creation", "algo_id", "rank"]
        constraints = [
            *QueueTask.Meta.constraints,
            models.UniqueConstraint(fields=["algo", "rank"], name="learnuplet_one_per_algo_rank"),
            models.CheckConstraint(condition=models.Q(rank__gte=0), name="learnuplet_rank_non_negative"),
            models.CheckConstraint(
                condition=~models.Q(status=Status.DONE) | models.Q(perf__isnull=False),
                name="learnuplet_done_has_perf",
            ),
        ]
        indexes = [
            *QueueTask.Meta.indexes,
            GinIndex(fields=["train_data"], name="learnuplet_train_data_gin"),
            models.Index(fields=["problem", "status"], name="learnuplet_problem_status"),
            models.Index(fields=["algo", "status", "perf"], name="learnuplet_algo_status_perf"),
            # The list order (Meta.ordering), alone and behind the algo and status filters:
            # a page of 1,000 reads 1,000 index entries instead of sorting every match.
            models.Index(fields=["training_creation", "algo", "rank"], name="learnuplet_list_order"),
            models.Index(fields=["algo", "status", "training_creation", "rank"],
                         name="learnuplet_algo_status_list"),
        ]

    def __str__(self) -> str:
        return f"learnuplet {self.uuid} (rank {self.rank})"
