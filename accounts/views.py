from rest_framework import viewsets

from accounts.models import Site
from accounts.permissions import RolePermission
from accounts.serializers import SiteSerializer
from orchestrator_site.fields import UUID_PATH


class SiteViewSet(viewsets.ReadOnlyModelViewSet[Site]):
    """The sites (organisations) that keep their data on their own machines. Operators
    manage them in the admin; `createclient --site` creates one on first use."""

    queryset = Site.objects.all()
    serializer_class = SiteSerializer
    permission_classes = [RolePermission]  # reads only, for every role
    lookup_value_regex = UUID_PATH
