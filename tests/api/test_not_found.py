"""A path that no route matches answers as the API answers, with debug on as with it off
(issue 14, point 10a): JSON under /api/ and at the root of the 2017 routes.

With DEBUG on, Django answers such a path with its HTML debug page and never calls the
site's handler404; `serve` runs with DEBUG on.
"""

from typing import Any

import pytest
from django.test import Client

DEBUG = pytest.mark.parametrize("debug", [False, True], ids=["debug off", "debug on"])


@pytest.fixture
def http(settings: Any, debug: bool) -> Client:
    settings.DEBUG = debug
    return Client()  # a new handler: the middleware chain is built with this DEBUG


@DEBUG
@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/nope", "/api/v2/problems/", "/api/v1/problems/a/b/c/"])
def test_an_unknown_api_path_answers_json(http: Client, path: str) -> None:
    response = http.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@DEBUG
@pytest.mark.parametrize("path", ["/foo", "/problems", "/foo/bar"])
def test_an_unknown_root_path_answers_as_the_2017_routes(http: Client, path: str) -> None:
    response = http.get(path)

    assert response.status_code == 404
    assert response.json() == {"Error": "Page does not exist"}


@DEBUG
def test_a_path_without_its_slash_is_still_redirected(http: Client) -> None:
    response = http.get("/api/v1/problems")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/problems/"


def test_a_page_that_is_not_the_apis_keeps_the_debug_page(settings: Any) -> None:
    settings.DEBUG = True

    response = Client().get("/not/an/api/path/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Using the URLconf" in response.content  # Django's debug page, which lists the routes
