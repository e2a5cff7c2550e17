"""Sites, API clients and their tokens. Clients are created with `createclient`; operators
move them between sites here, and revoke tokens (or with `revoketokens`): a revoked token
gets 401 from its next request on.

The site filter and column that the lists of data and tasks show live here too: the
apps above import them.
"""

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, ForeignObjectRel, IntegerField, Model, OuterRef, ProtectedError, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from knox.admin import AuthTokenAdmin as KnoxAuthTokenAdmin
from knox.models import AuthToken

from accounts.models import ApiClient, Site
from accounts.services import tokens_revoke
from orchestrator_site.admin import changelist_link, changelist_url, short_name

PLATFORM_CHOICE = "platform (no site)"


class SiteListFilter(admin.RelatedFieldListFilter):
    """Every site, and the platform's records (no site): `?site__uuid__exact=` and
    `?site__isnull=True`, one query for the sites whatever the list's size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.empty_value_display = PLATFORM_CHOICE  # type: ignore[assignment]  # a plain label, escaped by the template


# In a ModelAdmin's list_filter: ("site", SiteListFilter).
SITE_FILTER = ("site", SiteListFilter)


def site_column(model: type[Model], site: Site | None, limit: int = 12) -> SafeString:
    """A record's site in a list, by its name cut at `limit` characters (whole on hover),
    leading to the list of that site's records: `list_select_related` must name the site.
    A name of one long word wraps after 6 characters: the learnuplets' 14 columns fit
    1400 px only with a narrow site column."""
    if site is None:
        return format_html('<span title="{}">-</span>', PLATFORM_CHOICE)
    return short_name(site.name, changelist_url(model, site__uuid__exact=site.pk), limit, every=6)


def _referring(site_admin: admin.ModelAdmin[Site]) -> list[ForeignObjectRel]:
    """The relations of every model that refers to sites (clients, data, tasks), hidden
    ones too (related_name='+'): `accounts` imports none of the apps that own them."""
    return [f for f in site_admin.model._meta.get_fields(include_hidden=True)
            if isinstance(f, ForeignObjectRel) and f.one_to_many]


def _count_of(relation: ForeignObjectRel) -> Coalesce:
    """How many rows of the relation's model refer to the outer site: a subquery per row
    of the page, never a join of clients by data."""
    rows = (relation.related_model._default_manager.filter(**{relation.field.name: OuterRef("pk")})
            .order_by().values(relation.field.name).annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    """Sites: their names, clients and data. A site that clients, data or tasks refer to
    cannot be deleted (PROTECT): its delete page says what refers to it."""

    list_display = ("name", "clients_column", "data_column", "uuid", "created")
    search_fields = ("name",)
    search_help_text = "A site's name (part of it)."
    fields = ("name", "uuid", "created")
    readonly_fields = ("uuid", "created")
    # Counted past this, a delete page says "more than": a site's tasks may be millions.
    reference_cap = 1000

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return super().get_queryset(request).annotate(
            clients_count=_count_of(Site._meta.get_field("clients")),
            data_count=_count_of(Site._meta.get_field("data")),
        )

    @admin.display(description="clients", ordering="clients_count")
    def clients_column(self, site: Site) -> SafeString:
        n: int = site.clients_count  # type: ignore[attr-defined]  # annotated by get_queryset
        return changelist_link(ApiClient, str(n), site__uuid__exact=site.pk)

    @admin.display(description="data", ordering="data_count")
    def data_column(self, site: Site) -> SafeString:
        n: int = site.data_count  # type: ignore[attr-defined]  # annotated by get_queryset
        data = Site._meta.get_field("data").related_model
        return changelist_link(data, str(n), site__uuid__exact=site.pk)

    def get_deleted_objects(
        self, objs: Iterable[Site] | QuerySet[Site], request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[Any], list[Any]]:
        # Django's collector would list every protected row (a site's data and tasks, by
        # the thousand) and load each; a count per kind of record says as much.
        sites = list(objs)
        protected = []
        for relation in _referring(self):
            found = (relation.related_model._default_manager.filter(**{f"{relation.field.name}__in": sites})
                     .order_by()[: self.reference_cap + 1].count())
            if found:
                many = f"more than {self.reference_cap}" if found > self.reference_cap else str(found)
                protected.append(f"{capfirst(relation.related_model._meta.verbose_name_plural)}: {many}")
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(sites, request)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
                    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ProtectedError:
            # Data registered between the confirmation page and the click: PROTECT refused.
            self.message_user(request, "The site was not deleted: records of it were registered meanwhile.",
                              messages.ERROR)
            return HttpResponseRedirect(request.path)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except ProtectedError:
            # The bulk delete action, in the same race as delete_view's.
            self.message_user(request, "No site was deleted: records of them were registered meanwhile.",
                              messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin[ApiClient]):
    """A client's site is its only field to change: a compute worker moved to another site
    claims that site's tasks from its next claim on (the token lookup reads the site at
    each request); tasks it holds stay its own until they end."""

    list_display = ("username", "role", "site_link", "worker", "created", "tokens")
    list_filter = ("role", SITE_FILTER)
    list_select_related = ("user", "site")
    search_fields = ("user__username",)
    search_help_text = "A user name (part of it), or a worker UUID (exact)."
    fields = ("user", "role", "site", "worker", "created", "tokens")
    readonly_fields = ("user", "role", "worker", "created", "tokens")
    actions = ("revoke_tokens",)

    @admin.display(description="site", ordering="site__name")
    def site_link(self, client: ApiClient) -> SafeString:
        return site_column(ApiClient, client.site, limit=24)

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
