from typing import Any

from rest_framework import serializers

from accounts.roles import sees_test_data


class HidesTestDataSerializer(serializers.ModelSerializer):
    """Drops `secret_fields` unless the requester may see test data.

    The view sets context["reveal_test_data"] for the one exception the contract makes:
    the 201 answer to a problem's creator.
    """

    secret_fields: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        if not self._reveals():
            for name in self.secret_fields:
                fields.pop(name, None)
        return fields

    def _reveals(self) -> bool:
        if self.context.get("reveal_test_data"):
            return True
        request = self.context.get("request")
        # No request (e.g. schema generation): describe every field.
        return request is None or sees_test_data(request.user)
