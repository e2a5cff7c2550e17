from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    # rest_framework.views loads DEFAULT_PERMISSION_CLASSES, which names this module.
    from rest_framework.views import APIView

from accounts.models import Role
from accounts.roles import role_of


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


class WorkerWrites(RolePermission):
    """Claims, heartbeats and results."""

    write_roles = (Role.COMPUTE, Role.OPERATOR)
