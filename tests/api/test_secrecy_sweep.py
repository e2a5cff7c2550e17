"""Secrecy sweep (issue 9): every GET route of both APIs, enumerated from the URL resolver
so that a route added later is swept too, requested as a `client` for every record it can
name, and no body holds a test-data UUID (in any case, with or without hyphens).

The world is made through the API as it happens in use: test data registered as data,
data trained on for one problem and then declared test data of another, predictions on
it, done learnuplets with test_perf, and a worker's error message naming a test file.
"""

import base64
import uuid
from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Algo, Data, Problem
from tests.conftest import Caller, make_caller
from tests.helpers import API, claim, create_problem, register_algo, register_data, report_done, uuids
from tests.live import Route, routes

EXCLUDED = ("admin/", "api-auth/")
PASSWORD = "sweep-pass-word-1"
COLLECTIONS: dict[str, type[Problem] | type[Algo] | type[Data] | type[Learnuplet] | type[Preduplet] | type[Site]] = {
    "problems": Problem, "algos": Algo, "data": Data, "learnuplets": Learnuplet, "preduplets": Preduplet,
    "sites": Site,
}
SINGULAR = {"problem": "problems", "algo": "algos", "data": "data", "learnuplet": "learnuplets",
            "preduplet": "preduplets"}


@dataclass
class World:
    secret: set[str]
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def world(db, settings) -> World:
    # The browsable pages link static files; tests have not run collectstatic's manifest.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = make_caller("sweep-client", Role.CLIENT, password=PASSWORD)
    worker = make_caller("sweep-worker", Role.COMPUTE, password=PASSWORD)
    secret_b = uuids(2)
    b = create_problem(client, size=2, test=secret_b)["uuid"]
    train = uuids(4)
    register_data(client, [b], train)
    # A test-data UUID registered as data (it is never trained on).
    register_data(client, [b], [secret_b[0]])
    register_algo(client, b)
    first = claim(worker)
    report_done(worker, first, 0.8)
    # A prediction on data that is about to become test data of another problem.
    r = client.post(f"{API}/preduplets/", {"problem": b, "data": [first["train_data"][0]]})
    assert r.status_code == 201, r.content
    later_secret = first["train_data"][0]
    c = create_problem(client, size=1, test=[later_secret, str(uuid.uuid4())])["uuid"]
    # The reference worker reports a missing input file by its UUID.
    second = claim(worker)
    r = worker.post(f"{API}/learnuplets/{second['uuid']}/result/", {
        "attempt": second["attempt"], "status": "failed",
        "error": f"no object {secret_b[1]} in storage /srv; also {later_secret.upper()}"})
    assert r.status_code == 200, r.content
    prediction = claim(worker, "preduplets")
    r = worker.post(f"{API}/preduplets/{prediction['uuid']}/result/", {
        "attempt": prediction["attempt"], "status": "failed",
        "error": f"cannot read {later_secret.replace('-', '')}"})
    assert r.status_code == 200, r.content
    secret = {str(u) for p in Problem.objects.all() for u in p.test_dataset}
    assert {*secret_b, later_secret} <= secret
    return World(secret=secret, problems=[b, c])


def get_routes() -> list[Route]:
    return [r for r in routes(excluded=EXCLUDED) if "GET" in r.methods]


def sweep_paths(w: World) -> list[str]:
    """Every GET route, for every record it can name (and every test-data UUID as a record)."""

    def values(name: str, bound: dict[str, str], route: Route) -> list[str]:
        if name == "collection":
            return list(SINGULAR)
        if name == "pk":
            # /<collection>/<pk> at the root; /api/v1/<collection>/<pk>/ in v1.
            collection = SINGULAR[bound["collection"]] if "collection" in bound else route.template.split("/")[3]
            records = [str(pk) for pk in COLLECTIONS[collection].objects.values_list("pk", flat=True)]
            return records + sorted(w.secret)
        raise AssertionError(f"the sweep does not know the path parameter {name!r} of {route.template}")

    paths = [p for route in get_routes() for p in route.paths(values)]
    lists = [f"{API}/{c}/" for c in COLLECTIONS] + [f"/{c}" for c in SINGULAR]
    filtered = [f"{path}?problem={p}" for path in lists for p in w.problems]
    browsable = [f"{path}?format=api" for path in paths if path.startswith(f"{API}/")]
    return paths + filtered + browsable


def as_caller(caller: Caller, name: str) -> dict[str, APIClient]:
    token, basic = APIClient(), APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {caller.token}")
    basic.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode())
    return {"token": token, "basic": basic}


def leaks(content: bytes, secret: set[str], path: str) -> list[str]:
    """The test-data UUIDs in `content`, in any spelling, except one that the path itself names."""
    text = content.decode(errors="replace").lower()
    return [s for s in sorted(secret) if s not in path and (s in text or s.replace("-", "") in text)]


def bodies(caller: dict[str, APIClient], w: World) -> list[tuple[str, int, bytes]]:
    answers = []
    for path in sweep_paths(w):
        http = caller["token"] if path.startswith(("/api/", "/healthz", "/metrics")) else caller["basic"]
        r = http.get(path)
        answers.append((path, r.status_code, r.content))
    return answers


def test_it_never_shows_a_test_data_uuid_to_a_client_on_any_get_route(world):
    reader = make_caller("sweep-reader", Role.CLIENT, password=PASSWORD)
    answers = bodies(as_caller(reader, "sweep-reader"), world)
    leaked = {(path, status): found for path, status, content in answers
              if (found := leaks(content, world.secret, path))}
    assert leaked == {}
    assert all(status < 500 for _, status, _ in answers)
    print(f"secrecy sweep: {len(answers)} GET requests over {len(get_routes())} routes, "
          f"{len(world.secret)} test-data UUIDs, none shown")


def test_it_sweeps_routes_that_would_show_test_data_to_compute(world):
    """The sweep is not vacuous: the same requests show the test data to a compute worker."""
    compute = make_caller("sweep-compute", Role.COMPUTE, password=PASSWORD)
    answers = bodies(as_caller(compute, "sweep-compute"), world)
    seen = set().union(*(leaks(content, world.secret, path) for path, _, content in answers))
    assert seen == world.secret


def test_it_sweeps_every_get_route(world):
    swept = sweep_paths(world)
    from django.urls import resolve

    reached = {resolve(path.split("?")[0]).func for path in swept}
    assert reached == {route.callback for route in get_routes()}
