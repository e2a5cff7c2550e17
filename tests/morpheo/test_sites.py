"""Sites (issue 15) on the 2017 routes: 2017 workers have no site, so they see and set only
platform tasks; a compute user of a site sees its site's and the platform's. Another site's
task is refused with a 400 `Error` (the only refusal 2017 workers know) and changes nothing.
"""

import io
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Role, Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Data
from tasks.models import Status, TaskEvent
from tests.conftest import make_caller
from tests.factories import AnyFactory, LearnupletFactory, PredupletFactory, SiteFactory
from tests.helpers import API
from tests.morpheo_support import Morpheo, basic_header, new_uuids, post_problem

pytestmark = pytest.mark.django_db

PASSWORD = "s1te-pass-word"
FACTORIES: dict[str, AnyFactory] = {"learnuplet": LearnupletFactory, "preduplet": PredupletFactory}
MODELS: dict[str, type[Learnuplet] | type[Preduplet]] = {"learnuplet": Learnuplet, "preduplet": Preduplet}


def caller(name: str, role: str, site: Site | None = None) -> Morpheo:
    """A 2017 caller made by `createclient --site` (no site: a 2017 worker as it was)."""
    out = io.StringIO()
    call_command("createclient", name, role=role, password=PASSWORD, site=site.name if site else None,
                 stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=basic_header(name, PASSWORD))
    return Morpheo(http=http, worker=uuid.UUID(lines["worker"]) if "worker" in lines else None)


@pytest.fixture
def site_a(db: Any) -> Site:
    return SiteFactory.create(name="hospital-a")


@pytest.fixture
def site_b(db: Any) -> Site:
    return SiteFactory.create(name="hospital-b")


@pytest.fixture
def tasks(site_a: Site, site_b: Site) -> dict[str, dict[str | None, str]]:
    """One todo task of each kind at each site and on the platform, by kind and site name."""
    return {kind: {site.name if site else None: str(factory.create(site=site).pk)
                   for site in (site_a, site_b, None)}
            for kind, factory in FACTORIES.items()}


def state(kind: str, pk: str) -> tuple[Any, ...]:
    task = MODELS[kind].objects.get(pk=pk)
    return task.status, task.worker, task.attempt, TaskEvent.objects.filter(task=pk).count()


def assert_refused(r: Any, pk: str) -> None:
    assert r.status_code == 400, r.content
    error = r.json()["Error"]
    assert pk in error and "another site" in error, error


# -- lists and documents -------------------------------------------------------------------


@pytest.mark.parametrize("kind", FACTORIES)
def test_a_2017_worker_sees_only_platform_tasks(tasks, kind):
    worker = caller("w2017", Role.COMPUTE)

    listed = [d["uuid"] for d in worker.get(f"/{kind}").json()[f"{kind}s"]]

    assert listed == [tasks[kind][None]]
    assert worker.get(f"/{kind}/{tasks[kind]['hospital-a']}").status_code == 404
    assert worker.get(f"/{kind}/{tasks[kind][None]}").status_code == 200


@pytest.mark.parametrize("kind", FACTORIES)
def test_a_sites_compute_user_sees_its_sites_and_the_platforms_tasks(site_a, tasks, kind):
    worker = caller("gpu-a", Role.COMPUTE, site_a)

    listed = {d["uuid"] for d in worker.get(f"/{kind}").json()[f"{kind}s"]}
    filtered = worker.get(f"/{kind}", status="todo").json()[f"{kind}s"]

    assert listed == {tasks[kind]["hospital-a"], tasks[kind][None]}
    assert {d["uuid"] for d in filtered} == listed
    assert worker.get(f"/{kind}/{tasks[kind]['hospital-b']}").status_code == 404
    assert worker.get(f"/{kind}/{tasks[kind]['hospital-a']}").status_code == 200


@pytest.mark.parametrize("role", [Role.CLIENT, Role.OPERATOR])
@pytest.mark.parametrize("kind", FACTORIES)
def test_clients_and_operators_see_every_task(site_a, tasks, kind, role):
    reader = caller("reader", role, site_a)

    listed = {d["uuid"] for d in reader.get(f"/{kind}").json()[f"{kind}s"]}

    assert listed == set(tasks[kind].values())
    assert reader.get(f"/{kind}/{tasks[kind]['hospital-b']}").status_code == 200


@pytest.mark.parametrize("kind", FACTORIES)
def test_the_2017_documents_show_no_site(site_a, tasks, kind):
    document = caller("gpu-a", Role.COMPUTE, site_a).get(f"/{kind}/{tasks[kind]['hospital-a']}").json()
    assert "site" not in document


@pytest.mark.parametrize("size", [1, 20])
def test_a_sites_worker_lists_in_a_constant_number_of_queries(site_a, site_b, size):
    worker = caller("gpu-a", Role.COMPUTE, site_a)
    for site in (site_a, site_b, None):
        LearnupletFactory.create_batch(size, site=site)

    with CaptureQueriesContext(connection) as queries:
        r = worker.get("/learnuplet")

    assert len(r.json()["learnuplets"]) == 2 * size
    # The user with its client (and site), the page: the site costs no query of its own.
    assert len(queries) == 2, [q["sql"] for q in queries]


# -- the 2017 claim ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("own", [None, "hospital-a"], ids=["2017 worker", "site a's worker"])
def test_a_worker_set_on_another_sites_task_is_400_and_changes_nothing(site_a, tasks, kind, own):
    worker = caller("w", Role.COMPUTE, site_a if own else None)
    pk = tasks[kind]["hospital-b"]
    before = state(kind, pk)

    r = worker.post(f"/worker/{kind}/{pk}", {"worker": str(worker.worker)})

    assert_refused(r, pk)
    assert state(kind, pk) == before
    assert before[:3] == (Status.TODO, None, 0)


@pytest.mark.parametrize("kind", FACTORIES)
def test_a_2017_worker_sets_itself_on_a_platform_task(tasks, kind):
    worker = caller("w2017", Role.COMPUTE)
    pk = tasks[kind][None]

    r = worker.post(f"/worker/{kind}/{pk}", {"worker": str(worker.worker)})

    assert r.json() == {f"{kind}_worker_set": pk}
    assert state(kind, pk)[:3] == (Status.PENDING, worker.worker, 1)


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("task_site", [None, "hospital-a"])
def test_a_sites_worker_sets_itself_on_its_sites_and_platform_tasks(site_a, tasks, kind, task_site):
    worker = caller("gpu-a", Role.COMPUTE, site_a)
    pk = tasks[kind][task_site]

    assert worker.post(f"/worker/{kind}/{pk}", {"worker": str(worker.worker)}).status_code == 200
    assert state(kind, pk)[0] == Status.PENDING


@pytest.mark.parametrize("kind", FACTORIES)
def test_an_operator_sets_a_worker_on_any_sites_task(tasks, kind):
    operator = caller("ops", Role.OPERATOR)
    pk = tasks[kind]["hospital-b"]

    assert operator.post(f"/worker/{kind}/{pk}", {"worker": str(uuid.uuid4())}).status_code == 200


def test_an_unknown_task_is_still_400_not_todo_or_unknown(site_a):
    worker = caller("gpu-a", Role.COMPUTE, site_a)
    r = worker.post(f"/worker/learnuplet/{uuid.uuid4()}", {"worker": str(worker.worker)})
    assert r.status_code == 400
    assert "another site" not in r.json()["Error"]


# -- 2017 results --------------------------------------------------------------------------

DONE = {
    "learnuplet": ("/learndone", {"status": "done", "perf": 0.5, "train_perf": {}, "test_perf": {}}),
    "preduplet": ("/preddone", {"status": "done", "prediction_storage_uuid": str(uuid.uuid4())}),
}


def claimed_at_site_b(site_b: Site, tasks: dict[str, dict[str | None, str]], kind: str) -> str:
    """Site b's task, claimed over v1 by site b's worker: pending, as a result finds it."""
    gpu = make_caller("gpu-b", Role.COMPUTE, site=site_b.name)
    pk = tasks[kind]["hospital-b"]
    assert gpu.post(f"{API}/{kind}s/{pk}/claim/").status_code == 200
    return pk


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("status", ["done", "failed"])
@pytest.mark.parametrize("own", [None, "hospital-a"], ids=["2017 worker", "site a's worker"])
def test_a_result_on_another_sites_task_is_400_and_changes_nothing(site_a, site_b, tasks, kind, status, own):
    pk = claimed_at_site_b(site_b, tasks, kind)
    worker = caller("w", Role.COMPUTE, site_a if own else None)
    before = state(kind, pk)
    route, body = DONE[kind]

    r = worker.post(f"{route}/{pk}", body if status == "done" else {"status": "failed"})

    assert_refused(r, pk)
    assert state(kind, pk) == before
    assert before[0] == Status.PENDING


@pytest.mark.parametrize("kind", FACTORIES)
def test_a_sites_worker_reports_on_its_sites_task(site_b, tasks, kind):
    pk = claimed_at_site_b(site_b, tasks, kind)
    worker = caller("gpu-b-2017", Role.COMPUTE, site_b)
    route, body = DONE[kind]

    assert worker.post(f"{route}/{pk}", body).status_code == 200
    assert state(kind, pk)[0] == Status.DONE


@pytest.mark.parametrize("kind", FACTORIES)
def test_a_2017_worker_reports_on_a_platform_task(tasks, kind):
    worker = caller("w2017", Role.COMPUTE)
    pk = tasks[kind][None]
    route, body = DONE[kind]
    assert worker.post(f"/worker/{kind}/{pk}", {"worker": str(worker.worker)}).status_code == 200

    assert worker.post(f"{route}/{pk}", body).status_code == 200
    assert state(kind, pk)[0] == Status.DONE


@pytest.mark.parametrize("kind", FACTORIES)
def test_an_operator_reports_on_any_sites_task(site_b, tasks, kind):
    pk = claimed_at_site_b(site_b, tasks, kind)
    assert caller("ops", Role.OPERATOR).post(f"{DONE[kind][0]}/{pk}", {"status": "failed"}).status_code == 200


# -- registrations -------------------------------------------------------------------------


def test_a_sites_client_registers_data_of_its_site_and_their_learnuplets_too(site_a):
    client = caller("client-a", Role.CLIENT, site_a)
    problem = post_problem(client, size=2)
    algo = client.post("/algo", {"uuid": str(uuid.uuid4()), "problem": problem, "name": "a"})
    assert algo.status_code == 201, algo.content

    r = client.post("/data", {"uuid": new_uuids(4), "problems": [problem]})

    assert r.status_code == 201, r.content
    assert "site" not in r.json()["new_datas"][0]
    assert set(Data.objects.values_list("site_id", flat=True)) == {site_a.pk}
    assert r.json()["new_learnuplets"] == 2
    assert set(Learnuplet.objects.values_list("site_id", flat=True)) == {site_a.pk}


def test_a_client_without_a_site_registers_platform_data(db):
    client = caller("client", Role.CLIENT)
    problem = post_problem(client)

    assert client.post("/data", {"uuid": new_uuids(2), "problems": [problem]}).status_code == 201
    assert set(Data.objects.values_list("site_id", flat=True)) == {None}


def test_a_prediction_on_unregistered_data_runs_at_the_requesting_clients_site(site_a):
    client = caller("client-a", Role.CLIENT, site_a)
    problem = post_problem(client)
    LearnupletFactory.create(algo__problem_id=problem, status=Status.DONE, perf=0.5)

    r = client.post("/prediction", {"data": str(uuid.uuid4()), "problem": problem})

    assert r.status_code == 201, r.content
    assert Preduplet.objects.get(pk=r.json()["uuid"]).site_id == site_a.pk
