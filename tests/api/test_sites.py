"""Sites (issue 15) over v1: who registers data of which site, who claims what, where a
prediction runs, and GET sites/."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiClient, Role, Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Data
from tasks.models import Status, TaskEvent
from tests.conftest import make_caller
from tests.factories import AlgoFactory, LearnupletFactory, PredupletFactory, ProblemFactory, SiteFactory
from tests.helpers import API, create_problem, register_algo, register_data, uuids

pytestmark = pytest.mark.django_db


@pytest.fixture
def site_a(db) -> Site:
    return SiteFactory.create(name="hospital-a")


@pytest.fixture
def site_b(db) -> Site:
    return SiteFactory.create(name="hospital-b")


def caller(name: str, role: str, site: Site | None = None):
    return make_caller(name, role, site=site.name if site else None)


# -- registration --------------------------------------------------------------------------


def test_a_sites_client_registers_data_of_its_site(site_a):
    client = caller("client-a", Role.CLIENT, site_a)
    problem = create_problem(client)["uuid"]

    body = register_data(client, [problem], uuids(2))

    assert [d["site"] for d in body["data"]] == [str(site_a.pk)] * 2
    assert set(Data.objects.values_list("site_id", flat=True)) == {site_a.pk}


def test_a_client_without_a_site_registers_platform_data(uploader):
    problem = create_problem(uploader)["uuid"]

    body = register_data(uploader, [problem], uuids(1))

    assert body["data"][0]["site"] is None


def test_a_client_naming_its_own_site_is_served(site_a):
    client = caller("client-a", Role.CLIENT, site_a)
    problem = create_problem(client)["uuid"]

    r = client.post(f"{API}/data/", {"uuid": uuids(1), "problems": [problem], "site": str(site_a.pk)})

    assert r.status_code == 201, r.content


@pytest.mark.parametrize("member", [True, False], ids=["of another site", "without a site"])
def test_a_client_naming_another_site_is_refused_and_registers_nothing(site_a, site_b, member):
    client = caller("client", Role.CLIENT, site_a if member else None)
    problem = create_problem(client)["uuid"]

    r = client.post(f"{API}/data/", {"uuid": uuids(1), "problems": [problem], "site": str(site_b.pk)})

    assert r.status_code == 403, r.content
    assert "site" in r.json()["detail"]
    assert not Data.objects.exists()


def test_an_operator_registers_data_of_the_site_it_names(site_b, operator):
    problem = create_problem(operator)["uuid"]

    r = operator.post(f"{API}/data/", {"uuid": uuids(1), "problems": [problem], "site": str(site_b.pk)})

    assert r.status_code == 201, r.content
    assert r.json()["data"][0]["site"] == str(site_b.pk)


@pytest.mark.parametrize("site", [str(uuid.uuid4()), "hospital-a", 7, None, str(uuid.uuid4()).upper()])
def test_an_unknown_or_malformed_site_is_a_400_naming_the_field(operator, site):
    problem = create_problem(operator)["uuid"]

    r = operator.post(f"{API}/data/", {"uuid": uuids(1), "problems": [problem], "site": site})

    assert r.status_code == 400, r.content
    assert "site" in r.json()
    assert not Data.objects.exists()


# -- claims --------------------------------------------------------------------------------


def todo(site: Site | None, n: int = 1) -> list[Learnuplet]:
    return [LearnupletFactory.create(site=site) for _ in range(n)]


def test_a_sites_worker_claims_its_sites_tasks_then_the_platforms_never_anothers(site_a, site_b):
    gpu = caller("gpu-a", Role.COMPUTE, site_a)
    # The platform's task is the oldest: the site's own still come first.
    (platform,) = todo(None)
    own = todo(site_a, 2)
    todo(site_b, 2)

    claimed = [gpu.post(f"{API}/learnuplets/claim/") for _ in range(4)]

    assert [r.status_code for r in claimed] == [200, 200, 200, 204]
    assert [r.json()["uuid"] for r in claimed[:3]] == [str(t.pk) for t in [*own, platform]]
    assert Learnuplet.objects.filter(site=site_b, status=Status.TODO).count() == 2


def test_a_worker_without_a_site_claims_only_platform_tasks(site_a, worker):
    todo(site_a, 2)
    (platform,) = todo(None)

    first = worker.post(f"{API}/learnuplets/claim/")
    second = worker.post(f"{API}/learnuplets/claim/")

    assert (first.status_code, first.json()["uuid"]) == (200, str(platform.pk))
    assert second.status_code == 204


def test_preduplet_claims_follow_the_same_rule(site_a, site_b):
    gpu = caller("gpu-b", Role.COMPUTE, site_b)
    PredupletFactory.create(site=site_a)
    mine = PredupletFactory.create(site=site_b)

    first = gpu.post(f"{API}/preduplets/claim/")
    second = gpu.post(f"{API}/preduplets/claim/")

    assert (first.status_code, first.json()["uuid"]) == (200, str(mine.pk))
    assert second.status_code == 204


@pytest.mark.parametrize("kind", ["learnuplets", "preduplets"])
def test_a_named_claim_of_another_sites_task_is_403_and_changes_nothing(site_a, site_b, kind):
    gpu = caller("gpu-a", Role.COMPUTE, site_a)
    factory = LearnupletFactory if kind == "learnuplets" else PredupletFactory
    task = factory.create(site=site_b)
    events = TaskEvent.objects.count()

    r = gpu.post(f"{API}/{kind}/{task.pk}/claim/")

    assert r.status_code == 403, r.content
    assert "site" in r.json()["detail"]
    task.refresh_from_db()
    assert (task.status, task.worker, task.attempt) == (Status.TODO, None, 0)
    assert TaskEvent.objects.count() == events


def test_a_worker_without_a_site_may_not_name_a_sites_task(site_a, worker):
    (task,) = todo(site_a)

    assert worker.post(f"{API}/learnuplets/{task.pk}/claim/").status_code == 403


def test_a_named_claim_of_its_own_or_a_platform_task_is_served(site_a):
    gpu = caller("gpu-a", Role.COMPUTE, site_a)
    (own,), (platform,) = todo(site_a), todo(None)

    assert gpu.post(f"{API}/learnuplets/{own.pk}/claim/").status_code == 200
    assert gpu.post(f"{API}/learnuplets/{platform.pk}/claim/").status_code == 200


def test_a_named_claim_of_another_sites_task_that_is_not_todo_is_still_403(site_a, site_b):
    gpu = caller("gpu-a", Role.COMPUTE, site_a)
    task = LearnupletFactory.create(site=site_b, status=Status.DONE, perf=0.5)

    assert gpu.post(f"{API}/learnuplets/{task.pk}/claim/").status_code == 403


def test_an_operator_claims_any_sites_task_by_name(site_b, operator):
    (task,) = todo(site_b)

    r = operator.post(f"{API}/learnuplets/{task.pk}/claim/")

    assert r.status_code == 200, r.content
    assert r.json()["status"] == "pending"


def test_heartbeats_and_results_across_sites_are_refused_and_change_nothing(site_a, site_b):
    gpu_a, gpu_b = caller("gpu-a", Role.COMPUTE, site_a), caller("gpu-b", Role.COMPUTE, site_b)
    (task,) = todo(site_a)
    held = gpu_a.post(f"{API}/learnuplets/{task.pk}/claim/").json()
    before = Learnuplet.objects.values().get(pk=task.pk)

    heartbeat = gpu_b.post(f"{API}/learnuplets/{task.pk}/heartbeat/", {"attempt": held["attempt"]})
    result = gpu_b.post(f"{API}/learnuplets/{task.pk}/result/",
                        {"attempt": held["attempt"], "status": "failed", "error": "not mine"})

    assert (heartbeat.status_code, result.status_code) == (409, 409)
    assert Learnuplet.objects.values().get(pk=task.pk) == before


# -- predictions ---------------------------------------------------------------------------


def trained_problem():
    problem = ProblemFactory.create()
    LearnupletFactory.create(algo=AlgoFactory.create(problem=problem), status=Status.DONE, perf=0.5)
    return problem


def test_a_prediction_runs_at_the_site_of_its_data(site_a, site_b, operator):
    problem = trained_problem()
    data = uuids(2)
    register_data(caller("client-b", Role.CLIENT, site_b), [str(problem.pk)], data)

    r = caller("client-a", Role.CLIENT, site_a).post(f"{API}/preduplets/",
                                                     {"problem": str(problem.pk), "data": data})

    assert r.status_code == 201, r.content
    assert r.json()["site"] == str(site_b.pk)


def test_unregistered_data_count_as_the_requesting_clients_site(site_a):
    problem = trained_problem()

    r = caller("client-a", Role.CLIENT, site_a).post(f"{API}/preduplets/",
                                                     {"problem": str(problem.pk), "data": uuids(3)})

    assert r.status_code == 201, r.content
    assert r.json()["site"] == str(site_a.pk)


@pytest.mark.parametrize("mix", ["two sites", "a site and the platform", "a site and unregistered"])
def test_a_prediction_on_data_of_several_sites_is_a_400(site_a, site_b, uploader, mix):
    problem = trained_problem()
    a, other = uuids(1), uuids(1)
    register_data(caller("client-a", Role.CLIENT, site_a), [str(problem.pk)], a)
    if mix == "two sites":
        register_data(caller("client-b", Role.CLIENT, site_b), [str(problem.pk)], other)
    elif mix == "a site and the platform":
        register_data(uploader, [str(problem.pk)], other)

    r = uploader.post(f"{API}/preduplets/", {"problem": str(problem.pk), "data": a + other})

    assert r.status_code == 400, r.content
    assert "data" in r.json()
    assert not Preduplet.objects.exists()


# -- sites and memberships -----------------------------------------------------------------


def test_every_role_lists_the_sites(site_a, site_b, uploader, worker, operator):
    for reader in (uploader, worker, operator):
        r = reader.get(f"{API}/sites/")
        assert r.status_code == 200
        assert r.json()["count"] == 2
        assert r.json()["results"] == [{"uuid": str(site_a.pk), "name": "hospital-a"},
                                       {"uuid": str(site_b.pk), "name": "hospital-b"}]
    assert uploader.get(f"{API}/sites/{site_a.pk}/").json() == {"uuid": str(site_a.pk), "name": "hospital-a"}


def test_the_site_filters_list_data_and_tasks(site_a, operator):
    (mine,) = todo(site_a)
    todo(None)

    r = operator.get(f"{API}/learnuplets/", site=str(site_a.pk))

    assert [t["uuid"] for t in r.json()["results"]] == [str(mine.pk)]
    assert operator.get(f"{API}/learnuplets/", site="hospital-a").status_code == 400


def test_createclient_puts_clients_in_a_site_created_on_first_use():
    for name in ("gpu-1", "gpu-2"):
        out = StringIO()
        call_command("createclient", name, "--role", "compute", "--site", "hospital-a", stdout=out)
        assert out.getvalue().startswith("token=")

    (site,) = Site.objects.all()
    assert site.name == "hospital-a"
    assert set(ApiClient.objects.values_list("site_id", flat=True)) == {site.pk}


@pytest.mark.parametrize("site", ["", "   ", "x" * 256])
def test_createclient_refuses_a_blank_or_overlong_site(site):
    with pytest.raises(CommandError, match="--site"):
        call_command("createclient", "gpu", "--role", "compute", "--site", site, stdout=StringIO())
    assert not ApiClient.objects.exists()


def test_registration_and_generation_take_the_same_queries_with_sites(site_a, django_assert_max_num_queries):
    """Sites cost no query at registration: the site is the client's, loaded with its token."""
    client = caller("client-a", Role.CLIENT, site_a)
    problem = create_problem(client, size=1)["uuid"]
    register_algo(client, problem)
    platform_client = caller("client-p", Role.CLIENT)
    with django_assert_max_num_queries(20) as without_site:
        register_data(platform_client, [problem], uuids(50))
    with django_assert_max_num_queries(20) as with_site:
        register_data(client, [problem], uuids(50))
    assert len(with_site) == len(without_site)
