from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    # rest_framework.views loads DEFAULT_PERMISSION_CLASSES, which names this module.
    from rest_framework.views import APIView

from accounts.models import Role
from accounts.roles import User, role_of


class RolePermission(BasePermission):
    """Reads are open to every role; each write names the roles that may make it."""

    write_roles: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: "APIView") -> bool:
        role = role_of(request.user)
        if role is None:
            return False
        if request.method in SAFE_METHODS:
            return True
        return role in self.write_roles


class UploaderWrites(RolePermission):
    """Registration of problems, algos, data and prediction requests."""

    write_roles = (Role.CLIENT, Role.OPERATOR)


class OperatorWrites(RolePermission):
    """Settings of the platform: a problem's priority and run-time limit."""

    write_roles = (Role.OPERATOR,)


class WorkerWrites(RolePermission):
    """Claims, heartbeats and results."""

    write_roles = (Role.COMPUTE, Role.OPERATOR)


def refuse_unless_owner(user: User, owner: int | None) -> None:
    """Only the client that asked for something (registered the algo, requested the
    prediction) and operators may take it back (cancel it): 403 for anyone else."""
    if role_of(user) == Role.OPERATOR:
        return
    if owner is None or owner != user.pk:
        raise PermissionDenied("only the client that asked for it, or an operator, may cancel it")
