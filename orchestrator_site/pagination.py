from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request: Request) -> int | None:
        """`?page_size=` above 1000 is capped; one that is not a positive integer is a 400
        (DRF would silently use the default)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw:  # empty: the default, like an empty filter
            try:
                serializers.IntegerField(min_value=1).run_validation(raw)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({self.page_size_query_param: exc.detail}) from None
        return super().get_page_size(request)
