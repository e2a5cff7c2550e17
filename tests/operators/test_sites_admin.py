"""Sites in the admin (issue 15): a Site admin that refuses to delete a site in use, a
client's site to change, and the lists of data and tasks filtered by site, with its
column, in the same queries however many rows."""

import html
import re
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.admin import PLATFORM_CHOICE, SiteAdmin
from accounts.models import ApiClient, Role, Site
from tests.conftest import make_caller
from tests.factories import DataFactory, LearnupletFactory, PredupletFactory, SiteFactory

pytestmark = pytest.mark.django_db

SITES = reverse("admin:accounts_site_changelist")
CLIENTS = reverse("admin:accounts_apiclient_changelist")
DATA = reverse("admin:problems_data_changelist")
LEARNUPLETS = reverse("admin:learning_learnuplet_changelist")
PREDUPLETS = reverse("admin:predictions_preduplet_changelist")


def text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def cells_of(page: str, row_marker: str) -> dict[str, str]:
    """The cells of the list's row that contains `row_marker`, by column name."""
    rows = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S) if row_marker in row]
    assert len(rows) == 1, f"{len(rows)} rows of {row_marker}"
    return dict(re.findall(r'<t[dh] class="field-(\w+)[^"]*"[^>]*>(.*?)</t[dh]>', rows[0], re.S))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# The Site admin.

def test_it_lists_each_sites_clients_and_data_with_links_to_them(admin_browser: Client):
    site = SiteFactory.create(name="hospital-a")
    SiteFactory.create(name="hospital-b")
    for name in ("a-1", "a-2"):
        make_caller(name, Role.COMPUTE, site="hospital-a")
    DataFactory.create_batch(3, site=site)
    DataFactory.create()  # the platform's

    cells = cells_of(admin_browser.get(SITES).content.decode(), ">hospital-a<")

    assert (text(cells["clients_column"]), text(cells["data_column"])) == ("2", "3")
    assert f'href="{CLIENTS}?site__uuid__exact={site.pk}"' in cells["clients_column"]
    assert f'href="{DATA}?site__uuid__exact={site.pk}"' in cells["data_column"]
    other = cells_of(admin_browser.get(SITES).content.decode(), ">hospital-b<")
    assert (text(other["clients_column"]), text(other["data_column"])) == ("0", "0")


def test_it_finds_a_site_by_part_of_its_name(admin_browser: Client):
    SiteFactory.create(name="hospital-a")
    SiteFactory.create(name="lab-b")

    page = admin_browser.get(SITES, {"q": "hosp"}).content.decode()

    assert ">hospital-a<" in page and ">lab-b<" not in page


def test_an_operator_adds_a_site_and_renames_it(admin_browser: Client):
    admin_browser.post(reverse("admin:accounts_site_add"), {"name": "hospital-c"})
    site = Site.objects.get(name="hospital-c")

    admin_browser.post(reverse("admin:accounts_site_change", args=[site.pk]), {"name": "hospital-c (Lyon)"})

    site.refresh_from_db()
    assert site.name == "hospital-c (Lyon)"


def test_it_refuses_a_second_site_of_the_same_name(admin_browser: Client):
    SiteFactory.create(name="hospital-a")

    response = admin_browser.post(reverse("admin:accounts_site_add"), {"name": "hospital-a"})

    assert response.status_code == 200
    assert "Site with this Name already exists." in response.content.decode()
    assert Site.objects.filter(name="hospital-a").count() == 1


@pytest.mark.parametrize("refer", [
    lambda site: DataFactory.create(site=site),
    lambda site: make_caller("member", Role.CLIENT, site=site.name),
    lambda site: LearnupletFactory.create(site=site),  # no reverse accessor (related_name='+')
    lambda site: PredupletFactory.create(site=site),
], ids=["data", "client", "learnuplet", "preduplet"])
def test_it_refuses_to_delete_a_site_in_use_and_says_what_uses_it(admin_browser: Client, refer: Callable[[Site], object]):
    site = SiteFactory.create(name="hospital-a")
    refer(site)
    url = reverse("admin:accounts_site_delete", args=[site.pk])

    page = admin_browser.get(url)
    confirmed = admin_browser.post(url, {"post": "yes"})

    assert page.status_code == confirmed.status_code == 200
    assert "would require deleting the following protected related objects" in page.content.decode()
    assert re.search(r"<li>\w[\w ]*: 1</li>", page.content.decode())
    assert Site.objects.filter(pk=site.pk).exists()


def test_it_counts_a_sites_records_no_further_than_a_cap(admin_browser: Client, monkeypatch):
    monkeypatch.setattr(SiteAdmin, "reference_cap", 2)
    site = SiteFactory.create(name="hospital-a")
    DataFactory.create_batch(3, site=site)

    with CaptureQueriesContext(connection) as queries:
        page = admin_browser.get(reverse("admin:accounts_site_delete", args=[site.pk])).content.decode()

    assert "<li>Data: more than 2</li>" in page
    counts = [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(") and "problems_data" in q["sql"]]
    assert counts and all("LIMIT 3" in sql for sql in counts), counts


def test_the_bulk_delete_refuses_sites_in_use_too(admin_browser: Client):
    used, unused = SiteFactory.create(name="hospital-a"), SiteFactory.create(name="hospital-b")
    DataFactory.create(site=used)
    selected = {"action": "delete_selected", "_selected_action": [str(used.pk), str(unused.pk)]}

    page = admin_browser.post(SITES, selected)
    admin_browser.post(SITES, {**selected, "post": "yes"})

    assert "<li>Data: 1</li>" in page.content.decode()
    assert Site.objects.count() == 2


def test_it_deletes_a_site_nothing_refers_to(admin_browser: Client):
    site = SiteFactory.create(name="hospital-a")

    admin_browser.post(reverse("admin:accounts_site_delete", args=[site.pk]), {"post": "yes"})

    assert not Site.objects.exists()


def test_a_site_used_meanwhile_is_not_deleted_and_the_operator_is_told(admin_browser: Client, monkeypatch):
    # The confirmation page found nothing; data came between it and the click.
    monkeypatch.setattr(SiteAdmin, "get_deleted_objects",
                        lambda self, objs, request: ([str(o) for o in objs], {}, set(), []))
    site = SiteFactory.create(name="hospital-a")
    DataFactory.create(site=site)

    response = admin_browser.post(reverse("admin:accounts_site_delete", args=[site.pk]), {"post": "yes"},
                                  follow=True)

    assert response.status_code == 200
    assert messages_of(response) == ["The site was not deleted: records of it were registered meanwhile."]
    assert Site.objects.filter(pk=site.pk).exists()


def test_it_lists_sites_in_the_same_queries_for_one_and_for_twenty(admin_browser: Client):
    site = SiteFactory.create()
    DataFactory.create(site=site)
    admin_browser.get(SITES)
    with CaptureQueriesContext(connection) as one:
        assert admin_browser.get(SITES).status_code == 200
    for n in range(19):
        site = SiteFactory.create()
        DataFactory.create_batch(2, site=site)
        make_caller(f"c-{n}", Role.COMPUTE, site=site.name)
    with CaptureQueriesContext(connection) as twenty:
        assert admin_browser.get(SITES).status_code == 200

    assert len(twenty) == len(one), [q["sql"] for q in twenty]


# Clients' sites.

def test_it_shows_each_clients_site_and_filters_by_it(admin_browser: Client):
    member = make_caller("a-worker", Role.COMPUTE, site="hospital-a")
    platform = make_caller("p-worker", Role.COMPUTE)

    page = admin_browser.get(CLIENTS).content.decode()
    of_site = admin_browser.get(CLIENTS, {"site__uuid__exact": str(member.client.site_id)}).content.decode()
    of_platform = admin_browser.get(CLIENTS, {"site__isnull": "True"}).content.decode()

    assert text(cells_of(page, ">a-worker<")["site_link"]) == "hospital-a"
    assert text(cells_of(page, ">p-worker<")["site_link"]) == "-"
    assert PLATFORM_CHOICE in page
    assert str(member.worker) in of_site and str(platform.worker) not in of_site
    assert str(platform.worker) in of_platform and str(member.worker) not in of_platform


def test_an_operator_moves_a_compute_worker_to_another_site_and_its_claims_follow(admin_browser: Client):
    worker = make_caller("a-worker", Role.COMPUTE, site="hospital-a")
    other = SiteFactory.create(name="hospital-b")
    task = LearnupletFactory.create(site=other)
    assert worker.post("/api/v1/learnuplets/claim/").status_code == 204

    response = admin_browser.post(reverse("admin:accounts_apiclient_change", args=[worker.client.pk]),
                                  {"site": str(other.pk)})

    assert response.status_code == 302, response.content
    worker.client.refresh_from_db()
    assert worker.client.site_id == other.pk and worker.client.role == Role.COMPUTE
    claimed = worker.post("/api/v1/learnuplets/claim/")
    assert claimed.status_code == 200 and claimed.json()["uuid"] == str(task.pk)


def test_an_operator_makes_a_client_a_platform_client_again(admin_browser: Client):
    member = make_caller("a-client", Role.CLIENT, site="hospital-a")

    admin_browser.post(reverse("admin:accounts_apiclient_change", args=[member.client.pk]), {"site": ""})

    assert ApiClient.objects.get(pk=member.client.pk).site_id is None


# The lists of data and tasks.

LISTS = [
    (DATA, lambda **kw: DataFactory.create(**kw)),
    (LEARNUPLETS, lambda **kw: LearnupletFactory.create(**kw)),
    (PREDUPLETS, lambda **kw: PredupletFactory.create(**kw)),
]
LIST_IDS = ["data", "learnuplets", "preduplets"]


@pytest.mark.parametrize("url, make", LISTS, ids=LIST_IDS)
def test_a_list_filters_by_site_and_by_platform(admin_browser: Client, url, make):
    a, b = SiteFactory.create(name="hospital-a"), SiteFactory.create(name="hospital-b")
    of_a, of_b, of_platform = make(site=a), make(site=b), make()

    def shown(**params: str) -> set[str]:
        page = admin_browser.get(url, params).content.decode()
        return {str(r.pk) for r in (of_a, of_b, of_platform) if str(r.pk) in page}

    assert shown() == {str(of_a.pk), str(of_b.pk), str(of_platform.pk)}
    assert shown(site__uuid__exact=str(a.pk)) == {str(of_a.pk)}
    assert shown(site__isnull="True") == {str(of_platform.pk)}
    filters = admin_browser.get(url).content.decode().split('id="changelist-filter"', 1)[1]
    assert ">hospital-a<" in filters and f">{PLATFORM_CHOICE}<" in filters


@pytest.mark.parametrize("url, make", LISTS, ids=LIST_IDS)
def test_a_row_shows_its_site_cut_short_and_leading_to_the_sites_records(admin_browser: Client, url, make):
    name = "Hôpital universitaire de la Pitié-Salpêtrière"
    site = SiteFactory.create(name=name)
    record, platform = make(site=site), make()

    page = admin_browser.get(url).content.decode()
    cell = cells_of(page, str(record.pk))["site_link"]

    assert text(cell) == "Hôpital uni…"
    assert f'title="{name}"' in html.unescape(cell)
    assert f'href="{url}?site__uuid__exact={site.pk}"' in cell
    assert text(cells_of(page, str(platform.pk))["site_link"]) == "-"


@pytest.mark.parametrize("url, make", LISTS, ids=LIST_IDS)
def test_a_list_with_sites_runs_the_same_queries_for_two_rows_and_for_fifty(admin_browser: Client, url, make):
    make(site=SiteFactory.create())
    make()
    filters: list[dict[str, str]] = [{}, {"site__isnull": "True"}]

    def queries() -> list[list[str]]:
        counted = []
        for params in filters:
            with CaptureQueriesContext(connection) as page:
                assert admin_browser.get(url, params).status_code == 200
            counted.append([q["sql"] for q in page])
        return counted

    queries()  # warm the session and content-type caches
    few = queries()
    for n in range(48):
        make(site=SiteFactory.create() if n % 2 else None)
    many = queries()

    assert [len(q) for q in many] == [len(q) for q in few], many


def test_a_tasks_page_shows_its_site(admin_browser: Client):
    task = LearnupletFactory.create(site=SiteFactory.create(name="hospital-a"))

    page = admin_browser.get(reverse("admin:learning_learnuplet_change", args=[task.pk])).content.decode()

    assert re.search(r'<div class="readonly"><a href="[^"]*">hospital-a</a></div>', page), page
