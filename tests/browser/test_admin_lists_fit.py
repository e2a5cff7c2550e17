"""The admin's lists show every column on a 1400-px screen, without a horizontal
scrollbar (issue 14, point 4): the learnuplets showed 7 of their 12 columns, UUIDs
wrapped onto four lines and perf was cut."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from learning.models import Learnuplet
from tasks.queue import record_created
from tests.browser.pages import OPERATOR, log_in, open_page
from tests.conftest import Caller
from tests.factories import AlgoFactory, DataFactory, LearnupletFactory, PredupletFactory, ProblemFactory

ERROR = ("storage timeout while uploading model 5f0c6a38-6c1e-4a3e-9f0e-0d6d3c7a1a01 to the bucket: "
         "connection reset by peer\nTraceback (most recent call last):")


def seed() -> None:
    """A list as wide as they come: every status, long names and errors, 17-digit perfs."""
    now = timezone.now()
    problem = ProblemFactory.create()
    names = ("logistic regression with a long name", "XGBoostClassifierTunedWithOptunaV2", "sgd")
    tasks = []
    for i, name in enumerate(names):
        algo = AlgoFactory.create(problem=problem, name=name)
        for rank, status in enumerate(("done", "failed", "pending", "todo", "waiting")):
            fields: dict[str, object] = {"attempt": 3, "worker": uuid.uuid4(), "training_done": now}
            if status == "done":
                fields["perf"] = 0.123456789012345 + rank / 7 + i / 13
            if status == "failed":
                fields["last_error"] = ERROR if i != 1 else "/var/lib/worker/models/" + "a" * 60 + "/checkpoint:ENOSPC"
            if status == "pending":
                fields.update(claimed_at=now, heartbeat_at=now, lease_expires_at=now + timedelta(seconds=120))
                del fields["training_done"]
            if status in ("todo", "waiting"):
                fields = {}
            tasks.append(LearnupletFactory.create(algo=algo, rank=rank, status=status, **fields))
        PredupletFactory.create(problem=problem, status="failed", worker=uuid.uuid4(), attempt=3,
                                last_error=ERROR, timestamp_done=now)
        PredupletFactory.create(problem=problem, status="pending", worker=uuid.uuid4(), attempt=1,
                                lease_expires_at=now + timedelta(seconds=120))
    record_created(Learnuplet, [t.pk for t in tasks], reason="generated for the chain of the algo registered by a "
                   "client whose reason is longer than any column")
    DataFactory.create_batch(3, problems=[problem.pk, uuid.uuid4(), uuid.uuid4()])


def overflow(browser: WebDriver) -> dict[str, object]:
    """How far the list reaches past its box and past the window, in CSS pixels."""
    result: dict[str, object] = browser.execute_script("""
        const results = document.querySelector('.results');
        const headers = Array.from(document.querySelectorAll('#result_list thead th'));
        return {
            scroll: results.scrollWidth - results.clientWidth,
            page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
            past_window: headers.filter(th => th.getBoundingClientRect().right > window.innerWidth)
                                .map(th => th.textContent.trim()),
        };""")
    return result


@pytest.mark.parametrize("name", [
    "learning_learnuplet", "predictions_preduplet", "tasks_taskevent",
    "problems_problem", "problems_algo", "problems_data",
])
def test_every_column_of_the_list_fits_a_1400_px_window(browser, live_server, operator: Caller, name):
    seed()
    log_in(browser, live_server.url, *OPERATOR)

    open_page(browser, live_server.url + reverse(f"admin:{name}_changelist"), "#result_list")

    assert browser.get_window_size()["width"] == 1400
    assert browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert overflow(browser) == {"scroll": 0, "page": 0, "past_window": []}
