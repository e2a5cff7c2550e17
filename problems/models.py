from uuid import UUID, uuid4

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class ProblemQuerySet(models.QuerySet["Problem"]):
    def test_data_among(self, uuids: list[UUID]) -> set[UUID]:
        """Which of `uuids` are some problem's secret test data (one indexed query)."""
        # One array parameter: a plain list compiles one expression per UUID (0.35 s of
        # CPU for 10,000 of them).
        param = models.Value(list(uuids), output_field=ArrayField(models.UUIDField()))
        found = self.filter(test_dataset__overlap=param).values_list("test_dataset", flat=True)
        return set(uuids).intersection(u for dataset in found for u in dataset)


class DataQuerySet(models.QuerySet["Data"]):
    def without_test_data(self) -> "DataQuerySet":
        secret = Problem.objects.filter(test_dataset__contains=[models.OuterRef("uuid")])
        return self.exclude(models.Exists(secret))


class Problem(models.Model):
    uuid = models.UUIDField(primary_key=True, default=uuid4, editable=False)
    workflow = models.UUIDField(help_text="Problem workflow (metric, targets) on Storage.")
    timestamp_upload = models.DateTimeField(auto_now_add=True)
    test_dataset = ArrayField(
        models.UUIDField(), default=list, blank=True,
        help_text="Secret test data: visible only to compute workers and operators.",
    )
    size_train_dataset = models.PositiveIntegerField(help_text="Mini-batch size of each training task.")
    higher_is_better = models.BooleanField(
        default=True, help_text="Direction of the metric: is a higher perf better?"
    )
    priority = models.IntegerField(
        default=0, db_default=0, help_text="Its tasks are claimed before those of lower priorities."
    )
    max_run_seconds = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="A claim of its tasks running longer fails (run_time_exceeded); at most the "
                  "platform's ORCHESTRATOR_MAX_RUN_SECONDS.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ProblemQuerySet.as_manager()

    class Meta:
        ordering = ["timestamp_upload", "uuid"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(size_train_dataset__gte=1), name="problem_size_train_dataset_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(max_run_seconds__gte=1), name="problem_max_run_seconds_positive"
            ),
        ]
        indexes = [GinIndex(fields=["test_dataset"], name="problem_test_dataset_gin")]

    def __str__(self) -> str:
        return str(self.uuid)


class Algo(models.Model):
    # Set by the receivers of this row's post_save (learning's generation): how many
    # learnuplets its registration created. Not a column.
    new_learnuplets = 0

    uuid = models.UUIDField(primary_key=True, default=uuid4, editable=False)
    problem = models.ForeignKey(Problem, on_delete=models.PROTECT, related_name="algos")
    name = models.CharField(max_length=255)
    timestamp_upload = models.DateTimeField(auto_now_add=True)
    canceled_at = models.DateTimeField(
        null=True, blank=True, help_text="Canceled: none of its tasks runs, new data add none."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["timestamp_upload", "uuid"]

    def __str__(self) -> str:
        return f"{self.name} ({self.uuid})"


class DataUpload(models.Model):
    """One data registration: the record whose post_save generates the learnuplets of
    the whole upload. Its data are inserted in one statement, which sends no signal; the
    record lists them in request order, so generation reads no Data row back."""

    # Set by the receivers of this row's post_save, as on Algo. Not a column.
    new_learnuplets = 0

    uuid = models.UUIDField(primary_key=True, default=uuid4, editable=False)
    problems = ArrayField(models.UUIDField(), help_text="Problems the data were registered for.")
    data = ArrayField(models.UUIDField(), help_text="The data registered, in request order.")
    site = models.ForeignKey(
        "accounts.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False, help_text="The site of the data; none for platform data.",
    )
    timestamp_upload = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["timestamp_upload", "uuid"]

    def __str__(self) -> str:
        return f"upload {self.uuid} ({len(self.data)} data)"


class Data(models.Model):
    uuid = models.UUIDField(primary_key=True, default=uuid4, editable=False)
    problems = ArrayField(models.UUIDField(), help_text="Problems this data is registered for.")
    timestamp_upload = models.DateTimeField(auto_now_add=True)
    # Registration order, including the order inside one request: mini-batches follow it.
    seq = models.BigIntegerField(
        editable=False,
        db_default=models.Func(models.Value("problems_data_seq"), function="nextval",
                               output_field=models.BigIntegerField()),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site = models.ForeignKey(
        "accounts.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="data",
        help_text="Only compute workers of this site train on it; none: platform data, for any worker.",
    )

    objects = DataQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "data"
        ordering = ["seq"]
        indexes = [
            GinIndex(fields=["problems"], name="data_problems_gin"),
            models.Index(fields=["seq"], name="data_seq"),
        ]

    def __str__(self) -> str:
        return str(self.uuid)
