from django.contrib.auth import get_user_model
from django.db import transaction
from knox.models import AuthToken

from accounts.models import ApiClient, Role, Site


class ClientExists(Exception):
    pass


@transaction.atomic
def client_create(
    *, name: str, role: str, password: str | None = None, site: str | None = None
) -> tuple[ApiClient, str]:
    """Create a user with a role and one API token, in the site named `site` (created on
    first use) or none; return the client and the plain key.

    The key is shown once: only its digest is stored.
    """
    User = get_user_model()
    if User.objects.filter(username=name).exists():
        raise ClientExists(f"a user named {name!r} already exists")
    user = User(username=name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    if role == Role.OPERATOR:
        # Operators run the platform from the Django admin.
        user.is_staff = True
        user.is_superuser = True
    user.save()
    member_of = Site.objects.get_or_create(name=site)[0] if site else None
    client = ApiClient.objects.create(user=user, role=role, site=member_of)
    _, key = AuthToken.objects.create(user=user, expiry=None)
    return client, key


@transaction.atomic
def tokens_revoke(*, name: str, dry_run: bool = False) -> int:
    """Delete every token of the user `name` (or only count them); return how many."""
    tokens = AuthToken.objects.filter(user__username=name)  # knox is untyped: Any
    count: int
    if dry_run:
        count = tokens.count()
    else:
        count, _ = tokens.delete()
    return count
