"""API clients and tokens in the admin: role, worker, revocation (issues 2, 5)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken

from accounts.models import ApiClient, Role
from tests.conftest import make_caller

pytestmark = pytest.mark.django_db

CLIENTS = reverse("admin:accounts_apiclient_changelist")
TOKENS = reverse("admin:knox_authtoken_changelist")


def test_it_lists_each_clients_role_and_worker(admin_browser, worker):
    page = admin_browser.get(CLIENTS).content.decode()

    assert "compute worker" in page
    assert str(worker.worker) in page


def test_it_finds_a_client_by_its_worker_uuid(admin_browser, worker, uploader):
    page = admin_browser.get(CLIENTS, {"q": str(worker.worker)}).content.decode()

    assert str(worker.worker) in page and str(uploader.client.worker) not in page


def test_it_revokes_every_token_of_the_selected_clients(admin_browser, worker):
    admin_browser.post(CLIENTS, {"action": "revoke_tokens", "index": "0",
                                 "_selected_action": [str(worker.client.pk)]})

    assert worker.post("/api/v1/learnuplets/claim/").status_code == 401


def test_it_revokes_selected_tokens(admin_browser, worker, uploader):
    token = AuthToken.objects.get(user=worker.client.user)

    admin_browser.post(TOKENS, {"action": "revoke", "index": "0", "_selected_action": [str(token.pk)]})

    assert worker.post("/api/v1/learnuplets/claim/").status_code == 401
    assert uploader.get("/api/v1/problems/").status_code == 200


@pytest.mark.parametrize("url", [CLIENTS, TOKENS])
def test_it_lists_in_the_same_queries_for_one_row_and_for_fifty(admin_browser, url):
    admin_browser.get(url)
    with CaptureQueriesContext(connection) as few:
        assert admin_browser.get(url).status_code == 200
    for n in range(49):
        make_caller(f"client-{n}", Role.CLIENT)
    with CaptureQueriesContext(connection) as many:
        assert admin_browser.get(url).status_code == 200

    assert len(many) == len(few), [q["sql"] for q in many]
    assert ApiClient.objects.count() == 50
