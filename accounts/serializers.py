from rest_framework import serializers

from accounts.models import Site


class SiteSerializer(serializers.ModelSerializer[Site]):
    class Meta:
        model = Site
        fields = ["uuid", "name"]
        read_only_fields = fields
