"""What operators see and do of the push to a 2017 Compute: the backlog and the oldest
undelivered in `orchestrator_status` and `/metrics`, pending and failing deliveries in the
admin with retry and drop, and `manage.py push_compute`'s dry run and single pass."""

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from morpheo import outbox
from morpheo.models import Delivery, PushCursor
from tests.morpheo.push_support import dispatcher, ready_learnuplets
from tests.operators.test_metrics import scrape, value

pytestmark = pytest.mark.django_db(transaction=True)
DELIVERIES = "/admin/morpheo/delivery/"


@pytest.fixture
def failing(compute, settings):
    """Three tasks owed: one delivered, one refused by the Compute, one made ready after."""
    settings.ORCHESTRATOR_COMPUTE_URL = compute.url
    delivered, refused = ready_learnuplets(2)
    compute.refused = {refused}
    dispatcher(compute).run_once()
    later = ready_learnuplets(1)
    return {"delivered": delivered, "refused": refused, "later": later[0]}


def status() -> dict[str, Any]:
    out = io.StringIO()
    call_command("orchestrator_status", json=True, stdout=out)
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def test_the_status_shows_the_backlog_and_the_oldest_undelivered(failing):
    push = status()["compute_push"]

    assert (push["queued"], push["failing"], push["unread_events"]) == (0, 1, 1)
    assert push["dispatcher_started"] and push["oldest_undelivered"]["age_seconds"] >= 0
    out = io.StringIO()
    call_command("orchestrator_status", stdout=out)
    assert "0 queued, 1 failing, 1 events not read yet; oldest undelivered" in out.getvalue()


def test_the_status_says_when_no_dispatcher_ever_started(settings):
    settings.ORCHESTRATOR_COMPUTE_URL = "http://user:secret@compute.example:9000"
    ready_learnuplets(1)

    out = io.StringIO()
    call_command("orchestrator_status", stdout=out)

    assert "no dispatcher has started (manage.py push_compute)" in out.getvalue()
    assert "secret" not in out.getvalue() and status()["compute_push"]["url"] == "http://user:***@compute.example:9000"


def test_without_a_compute_the_status_has_no_push(settings):
    settings.ORCHESTRATOR_COMPUTE_URL = None

    assert status()["compute_push"] is None


def test_the_metrics_show_the_backlog_and_the_oldest_undelivered(failing, operator):
    Delivery.objects.filter(task=failing["refused"]).update(ready_at=timezone.now() - timedelta(minutes=5))

    samples = scrape(operator)

    assert value(samples, "orchestrator_compute_push_backlog", state="failing") == 1
    assert value(samples, "orchestrator_compute_push_backlog", state="queued") == 0
    assert value(samples, "orchestrator_compute_push_backlog", state="unread") == 1
    assert value(samples, "orchestrator_compute_push_oldest_undelivered_age_seconds") >= 300


def test_without_a_compute_the_metrics_ask_nothing_more(operator, settings):
    settings.ORCHESTRATOR_COMPUTE_URL = None
    with CaptureQueriesContext(connection) as without:
        samples = scrape(operator)
    settings.ORCHESTRATOR_COMPUTE_URL = "http://127.0.0.1:9"
    with CaptureQueriesContext(connection) as with_url:
        scrape(operator)

    assert not any(name.startswith("orchestrator_compute_push") for name, _ in samples)
    assert len(with_url) == len(without) + 1  # one statement, whatever the backlog


def test_the_admin_lists_the_failing_delivery_with_its_error(failing, admin_browser):
    page = admin_browser.get(DELIVERIES, {"state": "failing"})

    assert page.status_code == 200
    assert str(failing["refused"])[:8] in page.content.decode() and "400" in page.content.decode()


def test_an_operator_sends_a_delivery_again_now(failing, admin_browser, compute):
    delivery = Delivery.objects.get(task=failing["refused"])
    Delivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now() + timedelta(hours=1))
    compute.refused = set()

    admin_browser.post(DELIVERIES, {"action": "retry_now", "index": "0", "_selected_action": [str(delivery.pk)]})
    dispatcher(compute).run_once()

    assert compute.counts()[failing["refused"]] == 1 and not Delivery.objects.exists()


def test_an_operator_drops_a_delivery(failing, admin_browser, compute):
    delivery = Delivery.objects.get(task=failing["refused"])

    page = admin_browser.post(DELIVERIES, {"action": "drop", "index": "0", "_selected_action": [str(delivery.pk)]},
                              follow=True)
    compute.refused = set()
    dispatcher(compute).run_once()

    assert "Dropped 1" in page.content.decode()
    assert failing["refused"] not in compute.counts()


def test_a_worker_cannot_use_the_admins_actions(failing, worker):
    delivery = Delivery.objects.get(task=failing["refused"])
    worker.http.force_login(worker.client.user)

    worker.http.post(DELIVERIES, {"action": "drop", "index": "0", "_selected_action": [str(delivery.pk)]})

    assert Delivery.objects.filter(pk=delivery.pk).exists()


def test_the_command_wants_a_compute(settings):
    settings.ORCHESTRATOR_COMPUTE_URL = None

    with pytest.raises(CommandError, match="ORCHESTRATOR_COMPUTE_URL"):
        call_command("push_compute", "--once")


def test_a_dry_run_changes_and_sends_nothing(compute, settings):
    settings.ORCHESTRATOR_COMPUTE_URL = compute.url
    dispatcher(compute).run_once()  # started
    pks = ready_learnuplets(2)
    outbox.read_log()
    before = list(Delivery.objects.values_list("pk", "due_at", "attempts", "lease"))
    cursor = PushCursor.objects.get().event

    out = io.StringIO()
    call_command("push_compute", "--dry-run", stdout=out)

    assert "due now: 2" in out.getvalue() and str(pks[0]) in out.getvalue()
    assert list(Delivery.objects.values_list("pk", "due_at", "attempts", "lease")) == before
    assert PushCursor.objects.get().event == cursor and compute.received == []


def test_once_sends_what_is_due_and_says_so(compute, settings):
    settings.ORCHESTRATOR_COMPUTE_URL = compute.url
    pks = ready_learnuplets(3)

    out = io.StringIO()
    call_command("push_compute", "--once", stdout=out)

    assert compute.accepted() == pks and "sent 3" in out.getvalue()


def test_a_batch_costs_a_claim_a_read_per_kind_and_a_statement_per_delivery(compute):
    push = dispatcher(compute, batch=10)
    push._start()
    ready_learnuplets(10)
    push._read_log()

    with CaptureQueriesContext(connection) as queries:
        report, down = push._send_batch()

    assert (report.sent, down) == (10, False)
    assert len(queries) == 1 + 1 + 10  # claim; the learnuplets; one acknowledgement each
