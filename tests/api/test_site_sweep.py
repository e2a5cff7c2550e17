"""Site sweep (issue 15): for every route that hands a task to a worker, enumerated from the
URL resolver, and for compute workers of each site and without a site, no worker is ever
handed a task whose train data or prediction data belong to another site.

"Handed" is what a worker can start from: a claim's answer (v1, named or not), a 2017
`worker set`, and the 2017 task lists and documents a 2017 worker picks its task from.
Each worker drives each route as far as it goes (a claimed learnuplet is reported done, so
its chain releases the next rank, which may be another site's), from the same world each
time: the sweep of one (worker, route) runs in a savepoint rolled back afterwards.

The world is made through the API: three hospitals' clients (two sites and the platform)
register data in three orders, so chains cross sites in every order; an operator trains
each problem's first rank; clients ask for predictions on registered and unregistered data.
"""

import base64
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import Role, Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Data
from tests.conftest import Caller, make_caller
from tests.helpers import API, create_problem, register_algo, register_data, uuids
from tests.live import Route, routes

pytestmark = pytest.mark.django_db

PASSWORD = "site-sweep-pass-1"
KINDS = ("learnuplet", "preduplet")
MODELS: dict[str, type[Learnuplet] | type[Preduplet]] = {"learnuplet": Learnuplet, "preduplet": Preduplet}
# Where a task can reach a worker, and where it cannot: every POST route under these
# prefixes, and every route whose path says "claim", must be named in one of the two.
PREFIXES = (f"{API}/learnuplets", f"{API}/preduplets", "/worker", "/learnuplet", "/preduplet")
HANDING = {
    ("POST", f"{API}/learnuplets/claim/"), ("POST", f"{API}/preduplets/claim/"),
    ("POST", f"{API}/learnuplets/{{pk}}/claim/"), ("POST", f"{API}/preduplets/{{pk}}/claim/"),
    ("POST", "/worker/{kind}/{pk}"),
    ("GET", "/learnuplet"), ("GET", "/preduplet"), ("GET", "/{collection}/{pk}"),
}
NOT_HANDING = {
    # A worker's own claim going on, or a client's request and cancel: no task handed.
    ("POST", f"{API}/learnuplets/{{pk}}/heartbeat/"), ("POST", f"{API}/preduplets/{{pk}}/heartbeat/"),
    ("POST", f"{API}/learnuplets/{{pk}}/result/"), ("POST", f"{API}/preduplets/{{pk}}/result/"),
    ("POST", f"{API}/learnuplets/{{pk}}/cancel/"), ("POST", f"{API}/preduplets/{{pk}}/cancel/"),
    ("POST", f"{API}/preduplets/"),
}
ROUNDS = 10  # a worker's chain walk goes at most this many ranks deep here


@dataclass
class World:
    sites: dict[str, Site]
    # Every task, by kind: its UUID and the sites of its train or prediction data (None:
    # platform data), as registered; unregistered prediction data count as the asker's.
    tasks: dict[str, dict[str, set[uuid.UUID | None]]]


def basic(name: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode())
    return http


def data_sites(kind: str) -> dict[str, set[uuid.UUID | None]]:
    registered = dict(Data.objects.values_list("pk", "site_id"))
    found = {}
    for task in MODELS[kind].objects.all():
        data = task.train_data if isinstance(task, Learnuplet) else task.data
        found[str(task.pk)] = {registered[d] if d in registered else task.site_id for d in data}
    return found


@pytest.fixture
def quiet() -> Iterator[None]:
    """Django logs every 4xx: hundreds of refusals here."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def world(db: Any, quiet: None) -> World:
    clients = {name: make_caller(f"client-{name}", Role.CLIENT, site=name if name != "platform" else None)
               for name in ("hospital-a", "hospital-b", "platform")}
    operator = make_caller("sweep-ops", Role.OPERATOR)
    # Each problem's data come in another order of sites: its chains cross them in that order.
    orders = [("hospital-a", "hospital-b", "platform"), ("hospital-b", "platform", "hospital-a"),
              ("platform", "hospital-a", "hospital-b")]
    registered: dict[str, list[str]] = {name: [] for name in clients}
    for order in orders:
        problem = create_problem(clients["platform"], size=1)["uuid"]
        for n in range(2):
            register_algo(clients["platform"], problem, name=f"algo-{n}")
        for name in order:
            data = uuids(1)
            register_data(clients[name], [problem], data)
            registered[name] += data
        # An operator trains rank 0 of each chain (any site's): predictions need a model.
        for rank0 in Learnuplet.objects.filter(problem_id=problem, rank=0):
            r = operator.post(f"{API}/learnuplets/{rank0.pk}/claim/")
            assert r.status_code == 200, r.content
            r = operator.post(f"{API}/learnuplets/{rank0.pk}/result/",
                              {"attempt": r.json()["attempt"], "status": "done", "perf": 0.5})
            assert r.status_code == 200, r.content
        for name, client in clients.items():
            # On its own registered data, or on data never registered (the asker's site's).
            data = [registered[name][-1]] if len(registered[name]) % 2 else uuids(1)
            r = client.post(f"{API}/preduplets/", {"problem": problem, "data": data})
            assert r.status_code == 201, r.content
    sites = {s.name: s for s in Site.objects.all()}
    return World(sites=sites, tasks={kind: data_sites(kind) for kind in KINDS})


# -- driving each route as a worker ----------------------------------------------------------


@dataclass
class Worker:
    name: str
    site: uuid.UUID | None
    token: Caller
    basic: APIClient


def report_v1(w: Worker, kind: str, task: dict[str, Any]) -> None:
    body: dict[str, Any] = {"attempt": task["attempt"], "status": "done"}
    body.update({"perf": 0.5} if kind == "learnuplet" else {"prediction_storage_uuid": uuids(1)})
    r = w.token.post(f"{API}/{kind}s/{task['uuid']}/result/", body)
    assert r.status_code == 200, r.content


def report_2017(w: Worker, kind: str, pk: str) -> None:
    if kind == "learnuplet":
        r = w.basic.post(f"/learndone/{pk}", {"status": "done", "perf": 0.5, "train_perf": {}, "test_perf": {}},
                         format="json")
    else:
        r = w.basic.post(f"/preddone/{pk}", {"status": "done", "prediction_storage_uuid": str(uuid.uuid4())},
                         format="json")
    assert r.status_code == 200, r.content


def claim_next(kind: str) -> Callable[[Worker, World], list[str]]:
    def drive(w: Worker, world: World) -> list[str]:
        handed: list[str] = []
        for _ in range(len(world.tasks[kind]) + 1):
            r = w.token.post(f"{API}/{kind}s/claim/")
            if r.status_code == 204:
                return handed
            assert r.status_code == 200, r.content
            handed.append(r.json()["uuid"])
            report_v1(w, kind, r.json())
        raise AssertionError(f"{w.name} claimed more {kind}s than there are")
    return drive


def named(kind: str, *, v1: bool) -> Callable[[Worker, World], list[str]]:
    """Ask for every task by name, round after round while chains release more."""
    def drive(w: Worker, world: World) -> list[str]:
        handed: list[str] = []
        for _ in range(ROUNDS):
            before = len(handed)
            for pk in sorted(world.tasks[kind]):
                if v1:
                    r = w.token.post(f"{API}/{kind}s/{pk}/claim/")
                    refused: tuple[int, ...] = (403, 409)
                else:
                    r = w.basic.post(f"/worker/{kind}/{pk}", {"worker": str(w.token.worker)}, format="json")
                    refused = (400,)
                if r.status_code in refused:
                    continue
                assert r.status_code == 200, (pk, r.status_code, r.content)
                handed.append(pk)
                if v1:
                    assert r.json()["uuid"] == pk
                    report_v1(w, kind, r.json())
                else:
                    report_2017(w, kind, pk)
            if len(handed) == before:
                return handed
        raise AssertionError(f"{w.name}'s named claims of {kind}s went on for {ROUNDS} rounds")
    return drive


def listed(kind: str) -> Callable[[Worker, World], list[str]]:
    def drive(w: Worker, world: World) -> list[str]:
        shown = []
        for params in ({}, {"status": "todo"}):
            r = w.basic.get(f"/{kind}", params)
            assert r.status_code == 200, r.content
            shown += [d["uuid"] for d in r.json()[f"{kind}s"]]
        return shown
    return drive


def documents(kind: str) -> Callable[[Worker, World], list[str]]:
    def drive(w: Worker, world: World) -> list[str]:
        shown = []
        for pk in world.tasks[kind]:
            r = w.basic.get(f"/{kind}/{pk}")
            assert r.status_code in (200, 404), r.content
            if r.status_code == 200:
                shown.append(pk)
        return shown
    return drive


# Each handing route, driven once per kind it serves.
DRIVERS: dict[tuple[str, str], list[tuple[str, Callable[[Worker, World], list[str]]]]] = {
    ("POST", f"{API}/learnuplets/claim/"): [("learnuplet", claim_next("learnuplet"))],
    ("POST", f"{API}/preduplets/claim/"): [("preduplet", claim_next("preduplet"))],
    ("POST", f"{API}/learnuplets/{{pk}}/claim/"): [("learnuplet", named("learnuplet", v1=True))],
    ("POST", f"{API}/preduplets/{{pk}}/claim/"): [("preduplet", named("preduplet", v1=True))],
    ("POST", "/worker/{kind}/{pk}"): [(k, named(k, v1=False)) for k in KINDS],
    ("GET", "/learnuplet"): [("learnuplet", listed("learnuplet"))],
    ("GET", "/preduplet"): [("preduplet", listed("preduplet"))],
    ("GET", "/{collection}/{pk}"): [(k, documents(k)) for k in KINDS],
}


def worker_routes() -> list[tuple[str, Route]]:
    """(method, route) of the handing routes, of every POST route under PREFIXES, and of
    every route that says claim."""
    found = []
    for route in routes(excluded=("admin/",)):
        template = route.template
        for method in route.methods:
            if (method, template) in HANDING or "claim" in template \
                    or (method == "POST" and template.startswith(PREFIXES)):
                found.append((method, route))
    return found


def sweep(w: Worker, world: World) -> dict[tuple[str, str, str], list[str]]:
    """What each (route, kind) hands `w`, each from the same world."""
    handed = {}
    for (method, template), drivers in DRIVERS.items():
        for kind, drive in drivers:
            with transaction.atomic():
                handed[(method, template, kind)] = drive(w, world)
                transaction.set_rollback(True)
    return handed


def make_worker(name: str, role: str = Role.COMPUTE, site: str | None = None) -> Worker:
    caller = make_caller(name, role, password=PASSWORD, site=site)
    return Worker(name=name, site=caller.client.site_id, token=caller, basic=basic(name))


def trespasses(w: Worker, world: World, handed: dict[tuple[str, str, str], list[str]]) -> dict[str, Any]:
    allowed = {None, w.site}
    return {f"{method} {template} ({kind}) {pk}": world.tasks[kind][pk]
            for (method, template, kind), pks in handed.items() for pk in pks
            if not world.tasks[kind][pk] <= allowed}


# -- the sweep -----------------------------------------------------------------------------


def test_every_route_that_hands_a_task_is_swept():
    found = {(method, route.template) for method, route in worker_routes()}
    unknown = found - HANDING - NOT_HANDING
    assert unknown == set(), "a route that may hand tasks to workers: add it to the site sweep"
    assert HANDING <= found and set(DRIVERS) == HANDING


@pytest.mark.parametrize("site", ["hospital-a", "hospital-b", None], ids=["site a", "site b", "no site"])
def test_no_worker_is_handed_a_task_of_another_sites_data_on_any_route(world, site):
    w = make_worker(f"gpu-{site or 'platform'}", site=site)

    handed = sweep(w, world)

    assert trespasses(w, world, handed) == {}
    # Not vacuous: every route hands this worker tasks (its site's, or the platform's).
    assert [key for key, pks in handed.items() if not pks] == []
    mine = {w.site}
    assert any(world.tasks[k][pk] == mine for (_, _, k), pks in handed.items() for pk in pks)
    total = sum(map(len, handed.values()))
    print(f"site sweep, worker of {site or 'no site'}: {total} tasks handed over {len(handed)} routes "
          f"and kinds, none of another site's data")


def test_the_sweep_would_see_a_trespass(world):
    """Not vacuous: the world holds tasks of every site's data within reach of these routes,
    so an operator (who may claim anything) is handed them, and the check flags them."""
    ops = make_worker("sweep-operator", role=Role.OPERATOR)
    handed = sweep(ops, world)
    reached: set[uuid.UUID | None] = set().union(*(world.tasks[k][pk] for (_, _, k), pks in handed.items()
                                                  for pk in pks))
    assert reached == {None, *(s.pk for s in world.sites.values())}
    as_site_a = Worker("as-a", world.sites["hospital-a"].pk, ops.token, ops.basic)
    assert trespasses(as_site_a, world, handed) != {}
    for kind in KINDS:
        assert {frozenset(s) for s in world.tasks[kind].values()} >= {
            frozenset({s.pk}) for s in world.sites.values()}
