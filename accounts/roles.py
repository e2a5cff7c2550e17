"""Who may do what: the roles of the HTTP contract, read from a request's user."""

import uuid

from django.core.exceptions import PermissionDenied

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.models import User as Account

from accounts.models import ApiClient, Role

User = AbstractBaseUser | AnonymousUser


def account_of(user: User | None) -> Account | None:
    """The caller's user row, or None for an anonymous caller: what `created_by` records."""
    return user if isinstance(user, Account) else None


def role_of(user: User) -> str | None:
    if not user.is_authenticated:
        return None
    client: ApiClient | None = getattr(user, "api_client", None)
    if client is not None:
        return client.role
    # A superuser created with createsuperuser (no ApiClient row) operates the platform.
    if getattr(user, "is_superuser", False):
        return Role.OPERATOR
    return None


def sees_test_data(user: User) -> bool:
    """Test data is secret: only compute workers and operators may see its UUIDs."""
    return role_of(user) in (Role.COMPUTE, Role.OPERATOR)


def worker_of(user: User) -> uuid.UUID:
    """The worker UUID the user's claims record."""
    client: ApiClient | None = getattr(user, "api_client", None)
    if client is not None:
        return client.worker
    # A superuser without an ApiClient row still gets a stable worker identity.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"orchestrator:user:{user.pk}")


def site_of(user: User) -> uuid.UUID | None:
    """The UUID of the site the user belongs to; None for platform users (and superusers
    without an ApiClient row). Free: authentication loaded the ApiClient row."""
    client: ApiClient | None = getattr(user, "api_client", None)
    return client.site_id if client is not None else None


def site_to_register(user: User, named: uuid.UUID | None) -> uuid.UUID | None:
    """The site of the data `user` registers: the one it names, or its own (None: platform
    data). Only operators may name a site other than their own."""
    own = site_of(user)
    if named is None or named == own:
        return own
    if role_of(user) == Role.OPERATOR:
        return named
    raise PermissionDenied("only operators may register data of a site other than their own")


def actor_name(user: User | None) -> str:
    if user is None or not user.is_authenticated:
        return "system"
    return user.get_username()
