"""What learnuplets and preduplets share: a status machine worked by leased claims.

`QueueTask` is abstract; each concrete task table lives in its own app. Every status
change of any task is appended to `TaskEvent`.
"""

from collections.abc import Sequence
from uuid import uuid4

from django.db import models


class Status(models.TextChoices):
    WAITING = "waiting"
    TODO = "todo"
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


ENDED = (Status.DONE, Status.FAILED)
ACTIVE = (Status.WAITING, Status.TODO, Status.PENDING)


class TaskKind(models.TextChoices):
    LEARNUPLET = "learnuplet"
    PREDUPLET = "preduplet"


class QueueTask(models.Model):
    # Set on each concrete model: which TaskKind it is and which column records the end.
    kind: str
    ended_field: str

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.TODO)
    worker = models.UUIDField(null=True, blank=True, db_index=True)
    attempt = models.PositiveIntegerField(default=0, help_text="Claims so far.")
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When it last became todo: claims take the oldest first."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    @classmethod
    def on_ended(cls, tasks: Sequence["QueueTask"]) -> None:
        """Called in the same transaction after `tasks` end (done or failed for good)."""

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=Status.PENDING)
                | models.Q(worker__isnull=False, lease_expires_at__isnull=False),
                name="%(app_label)s_%(class)s_pending_has_lease",
            ),
        ]
        indexes = [
            # The claim query: oldest todo first, over only the claimable rows.
            models.Index(
                fields=["queued_at", "uuid"],
                condition=models.Q(status="todo"),
                name="%(class)s_claimable",
            ),
            # Lease expiry sweeps only look at pending rows.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="pending"),
                name="%(class)s_leases",
            ),
        ]


class TaskEvent(models.Model):
    """Append-only history of every status change of every task."""

    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    task = models.UUIDField()
    from_status = models.CharField(max_length=8, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=8, choices=Status.choices)
    attempt = models.PositiveIntegerField(default=0)
    worker = models.UUIDField(null=True, blank=True)
    actor = models.CharField(max_length=150, help_text="User name, or 'system'.")
    reason = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "task", "at"])]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.task}: {self.from_status or '-'} → {self.to_status}"
