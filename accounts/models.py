import uuid

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    CLIENT = "client", "client (uploader)"
    COMPUTE = "compute", "compute worker"
    OPERATOR = "operator", "operator"


class ApiClient(models.Model):
    """The role of a Django user that talks to the API, and the worker UUID it claims as."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_client"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    worker = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="apiclient_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role})"
