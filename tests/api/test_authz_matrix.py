"""Authorization matrix (issue 9): every route of both APIs, enumerated from the URL
resolver, by every role, by a user without a role and without credentials, answers the
status the contract gives: 401 without credentials, 403 for a role that may not, and
otherwise neither. A route added later fails the first test until its row is written here.
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import Role
from tests.conftest import make_caller
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory
from tests.live import Route, routes

# Who may, per the contract (/work/shared/spec/api.md, "Roles and authentication").
ANYONE = "anyone"  # no credentials needed
READ = "read"  # every role
UPLOAD = "upload"  # client, operator
WORK = "work"  # compute, operator
OPERATE = "operate"  # operator
OWN = "own"  # the client that asked for it (not the matrix's client), operator
NOT_FOUND = "404"  # not a route of either API: 404 to everyone
NOT_ALLOWED = "405"  # a method the route does not serve

ALLOWED_ROLES = {
    READ: {Role.CLIENT, Role.COMPUTE, Role.OPERATOR},
    UPLOAD: {Role.CLIENT, Role.OPERATOR},
    WORK: {Role.COMPUTE, Role.OPERATOR},
    OPERATE: {Role.OPERATOR},
    OWN: {Role.OPERATOR},
}

V1 = "/api/v1"
CONTRACT: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): ANYONE,
    ("POST", "/healthz"): NOT_ALLOWED,
    ("GET", "/metrics"): OPERATE,
    ("GET", f"{V1}/"): READ,
    ("GET", f"{V1}/schema/"): ANYONE,
    ("GET", f"{V1}/docs/"): ANYONE,
    **{("GET", f"{V1}/{c}/"): READ for c in ("problems", "algos", "data", "learnuplets", "preduplets", "sites")},
    **{("GET", f"{V1}/{c}/{{pk}}/"): READ for c in ("problems", "algos", "data", "learnuplets", "preduplets", "sites")},
    ("GET", f"{V1}/problems/{{pk}}/leaderboard/"): READ,
    **{("POST", f"{V1}/{c}/"): UPLOAD for c in ("problems", "algos", "data", "preduplets")},
    **{("POST", f"{V1}/{t}/claim/"): WORK for t in ("learnuplets", "preduplets")},
    # Cancel: the client that asked for the work (the matrix's client did not: 403), operators.
    **{("POST", f"{V1}/{c}/{{pk}}/cancel/"): OWN for c in ("algos", "learnuplets", "preduplets")},
    ("PATCH", f"{V1}/problems/{{pk}}/"): OPERATE,
    ("GET", f"{V1}/events/"): READ,
    **{("POST", f"{V1}/{t}/{{pk}}/{a}/"): WORK
       for t in ("learnuplets", "preduplets") for a in ("claim", "heartbeat", "result")},
    # The 2017 routes, HTTP Basic.
    **{("GET", f"/{c}"): READ for c in ("problem", "algo", "data", "learnuplet", "preduplet")},
    ("GET", "/{collection}/{pk}"): READ,
    **{("POST", f"/{c}"): UPLOAD for c in ("problem", "algo", "data", "prediction")},
    ("POST", "/worker/{kind}/{pk}"): WORK,
    ("POST", "/learndone/{pk}"): WORK,
    ("POST", "/preddone/{pk}"): WORK,
    ("GET", "/{problem|algo|data|learnuplet|preduplet|prediction|worker|learndone|preddone}/..."): NOT_FOUND,
    ("POST", "/{problem|algo|data|learnuplet|preduplet|prediction|worker|learndone|preddone}/..."): NOT_FOUND,
}
# Not routes of either API: the admin and DRF's login pages (session log-in, for people).
EXCLUDED = ("admin/", "api-auth/")
PASSWORD = "matrix-pass-word-1"
TASK = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
WHO = ["anonymous", "no role", Role.CLIENT, Role.COMPUTE, Role.OPERATOR]


def base_template(route: Route) -> str:
    """A format-suffix variant (`/problems.{format}`) shares its route's row."""
    return route.template.replace("/.{format}", "/").replace(".{format}", "/").replace("/{format}", "/")


def served() -> dict[tuple[str, str], list[Route]]:
    found: dict[tuple[str, str], list[Route]] = {}
    for route in routes(excluded=EXCLUDED):
        for method in route.methods:
            found.setdefault((method, base_template(route)), []).append(route)
    return found


SERVED = served()


def path_values(name: str, bound: dict[str, str], route: Route) -> list[str]:
    return {"pk": [TASK], "format": ["json"], "kind": ["learnuplet", "preduplet"],
            "collection": ["problem", "algo", "data", "learnuplet", "preduplet"]}[name]


@dataclass
class Credentials:
    """One identity, as a v1 token and as HTTP Basic for the 2017 routes."""

    token: str | None
    basic: str | None

    def http(self, path: str) -> APIClient:
        http = APIClient()
        v1 = path.startswith(("/api/", "/healthz", "/metrics"))
        if v1 and self.token:
            http.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
        elif not v1 and self.basic:
            http.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(self.basic.encode()).decode())
        return http


def credentials_of(who: str) -> Credentials:
    if who == "anonymous":
        return Credentials(None, None)
    name = who.replace(" ", "-")
    if who == "no role":
        user = get_user_model().objects.create_user(name, password=PASSWORD)
        return Credentials(AuthToken.objects.create(user=user, expiry=None)[1], f"{name}:{PASSWORD}")
    return Credentials(make_caller(name, who, password=PASSWORD).token, f"{name}:{PASSWORD}")


def expected(rule: str, who: str) -> Callable[[int], bool]:
    if rule == ANYONE:
        return lambda status: status not in (401, 403)
    if rule == NOT_FOUND:
        return lambda status: status == 404
    if rule == NOT_ALLOWED:
        return lambda status: status == 405
    if who == "anonymous":
        return lambda status: status == 401
    if who not in ALLOWED_ROLES[rule]:
        return lambda status: status == 403
    return lambda status: status not in (401, 403)


def test_it_has_a_contract_row_for_every_route_and_method():
    assert sorted(SERVED) == sorted(CONTRACT)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "template"), sorted(CONTRACT), ids=[f"{m} {t}" for m, t in sorted(CONTRACT)])
def test_it_answers_each_caller_as_the_contract_says(db, method, template, who):
    # Tasks that exist: a claim by a permitted role then succeeds instead of answering 404.
    LearnupletFactory.create(uuid=TASK, algo=AlgoFactory.create(uuid=TASK))
    PredupletFactory.create(uuid=TASK)
    caller = credentials_of(who)
    ok = expected(CONTRACT[(method, template)], who)
    for route in SERVED[(method, template)]:
        for path in route.paths(path_values):
            r = getattr(caller.http(path), method.lower())(path, {}, format="json")
            assert ok(r.status_code), f"{who} {method} {path}: {r.status_code} {r.content[:200]!r}"
