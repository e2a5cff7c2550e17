"""The push to a 2017 Compute: where the dispatcher has read the event log, and the
deliveries it still owes (morpheo/outbox.py)."""

from django.db import models


class PushCursor(models.Model):
    """How far the dispatcher has read the event log (`tasks.TaskEvent`): one row, written
    by its first start."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    event = models.BigIntegerField(help_text="Every event up to this id has been read.")
    started_at = models.DateTimeField(help_text="When the first dispatcher started (tasks todo then were queued).")
    read_at = models.DateTimeField(help_text="When the dispatcher last moved on.")

    def __str__(self) -> str:
        return f"events read up to {self.event}"


class Delivery(models.Model):
    """A task made ready whose document the Compute has not acknowledged yet.

    Deleted once the Compute answers 2xx, or once the task is no longer todo (claimed,
    canceled: nothing to tell), or when an operator drops it; so the table is the backlog.
    One row per task at most: a task made ready again before it was delivered moves its row
    to the later event.
    """

    kind = models.CharField(max_length=16, help_text="learnuplet or preduplet.")
    task = models.UUIDField()
    event = models.BigIntegerField(help_text="The event that made the task ready: deliveries go in this order.")
    ready_at = models.DateTimeField(help_text="Since when the Compute has been owed it.")
    due_at = models.DateTimeField(help_text="Not sent before this (a back-off, or the task's own).")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed sends so far.")
    last_error = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # A dispatcher's claim: its batch's token, until when it holds it, and the database
    # session (pid and its start) that took it, so that a dispatcher that died is noticed
    # at once rather than when its lease runs out.
    lease = models.UUIDField(null=True, blank=True, help_text="The claiming dispatcher's batch, while it sends.")
    leased_until = models.DateTimeField(null=True, blank=True)
    leased_pid = models.IntegerField(null=True, blank=True)
    leased_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries to the Compute"
        verbose_name = "delivery to the Compute"
        constraints = [models.UniqueConstraint(fields=["kind", "task"], name="delivery_one_per_task")]
        indexes = [models.Index(fields=["event"], name="delivery_send_order")]
        ordering = ["event"]

    def __str__(self) -> str:
        return f"{self.kind} {self.task}"
