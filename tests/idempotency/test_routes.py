"""Every write under /api/v1/ honours Idempotency-Key, and the OpenAPI document says so:
a route added later without it fails here."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from idempotency.api import IdempotentMixin
from tests.live import routes

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
V1_WRITES = sorted(
    (route.template, method) for route in routes(("api/v1/",)) for method in route.methods if method in WRITES
)


def test_there_are_writes_to_check():
    assert ("/api/v1/learnuplets/claim/", "POST") in V1_WRITES
    assert len(V1_WRITES) >= 11


@pytest.mark.parametrize("route", [r for r in routes(("api/v1/",)) if WRITES & set(r.methods)],
                         ids=lambda r: r.template)
def test_every_write_route_honours_the_key(route):
    view = getattr(route.callback, "cls", None)

    assert view is not None and issubclass(view, IdempotentMixin), f"{route.template} does not mix in IdempotentMixin"


def test_the_document_shows_the_key_and_its_answers_on_every_write():
    document = SchemaGenerator().get_schema(request=None, public=True)
    writes = [(path, method, op) for path, ops in document["paths"].items()
              for method, op in ops.items() if method.upper() in WRITES]

    assert len(writes) == len(V1_WRITES)
    for path, method, op in writes:
        (key,) = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header" and not key.get("required")
        assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
        assert {"400", "409", "422"} <= set(op["responses"]), (path, method)
        for code, answer in op["responses"].items():
            if code.startswith("2"):
                assert "Idempotent-Replayed" in answer["headers"], (path, method, code)


def test_reads_do_not_show_it():
    document = SchemaGenerator().get_schema(request=None, public=True)

    for ops in document["paths"].values():
        for method, op in ops.items():
            if method == "get":
                assert "Idempotency-Key" not in [p["name"] for p in op.get("parameters", [])]
