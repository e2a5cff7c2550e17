"""API clients and their tokens. Clients are created with `createclient`; tokens are revoked
here (or with `revoketokens`): a revoked token gets 401 from its next request on."""

import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from knox.admin import AuthTokenAdmin as KnoxAuthTokenAdmin
from knox.models import AuthToken

from accounts.models import ApiClient
from accounts.services import tokens_revoke


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin[ApiClient]):
    list_display = ("username", "role", "worker", "created", "tokens")
    list_filter = ("role",)
    list_select_related = ("user",)
    search_fields = ("user__username",)
    search_help_text = "A user name (part of it), or a worker UUID (exact)."
    fields = ("user", "role", "worker", "created", "tokens")
    readonly_fields = ("user", "role", "worker", "created", "tokens")
    actions = ("revoke_tokens",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `manage.py createclient` creates the user, its role and its first token together

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ApiClient], search_term: str
    ) -> tuple[QuerySet[ApiClient], bool]:
        try:
            return queryset.filter(worker=uuid.UUID(search_term.strip())), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    @admin.display(description="user", ordering="user__username")
    def username(self, client: ApiClient) -> str:
        return client.user.get_username()

    @admin.display(description="API tokens")
    def tokens(self, client: ApiClient) -> SafeString:
        url = reverse("admin:knox_authtoken_changelist")
        return format_html('<a href="{}?q={}">tokens of {}</a>', url, client.user.get_username(),
                           client.user.get_username())

    @admin.action(description="Revoke every API token of the selected clients", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        revoked = sum(tokens_revoke(name=name) for name in queryset.values_list("user__username", flat=True))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(KnoxAuthTokenAdmin):  # type: ignore[misc]  # knox ships no types
    """Knox's admin, plus the owner in one query per page and a revoke action."""

    list_display = ("token_key", "user", "created", "expiry")
    list_select_related = ("user",)
    actions = ("revoke",)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # a token is created or revoked, never edited

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        revoked, _ = queryset.delete()
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        actions.pop("delete_selected", None)  # "revoke" says what it means
        return actions
