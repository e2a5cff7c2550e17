import uuid

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    CLIENT = "client", "client (uploader)"
    COMPUTE = "compute", "compute worker"
    OPERATOR = "operator", "operator"


class Site(models.Model):
    """An organisation (a hospital, a lab) that keeps its data on its own machines: the
    training data registered by its clients are trained on only by its compute workers."""

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiClient(models.Model):
    """The role of a Django user that talks to the API, the worker UUID it claims as, and
    the site it belongs to (none: a platform client, whose data and workers are shared)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_client"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    worker = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="clients",
        help_text="Its organisation: a compute worker of a site trains only on that site's data "
                  "(and on platform data); a client's data belong to its site.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="apiclient_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role})"
