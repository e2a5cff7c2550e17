"""The push's deliveries (issue 18) as an operator sees them: every column on a 1400-px
screen, failing ones with their error's first line, and the two actions offered."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By

from morpheo.models import Delivery
from tests.browser.pages import OPERATOR, log_in, open_page
from tests.browser.test_admin_lists_fit import ERROR, overflow
from tests.factories import LearnupletFactory, PredupletFactory


def seed() -> None:
    now = timezone.now()
    for i in range(4):
        task = LearnupletFactory.create(rank=i)
        Delivery.objects.create(kind="learnuplet", task=task.pk, event=10 + i, ready_at=now - timedelta(minutes=50),
                                due_at=now + timedelta(seconds=90), attempts=7 if i % 2 else 0,
                                last_error="503 from the Compute: " + ERROR if i % 2 else "",
                                last_attempt_at=now - timedelta(seconds=30) if i % 2 else None)
    prediction = PredupletFactory.create()
    Delivery.objects.create(kind="preduplet", task=prediction.pk, event=20, ready_at=now, due_at=now,
                            leased_until=now + timedelta(seconds=60))


@pytest.mark.django_db(transaction=True)
def test_the_deliveries_list_fits_and_offers_retry_and_drop(browser, live_server, operator):
    seed()
    log_in(browser, live_server.url, *OPERATOR)

    open_page(browser, live_server.url + reverse("admin:morpheo_delivery_changelist"), "#result_list")

    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 5
    assert overflow(browser) == {"scroll": 0, "page": 0, "past_window": []}
    assert "503 from the Compute" in browser.find_element(By.ID, "result_list").text
    actions = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "select[name=action] option")]
    assert any("send" in a.lower() or "retry" in a.lower() for a in actions), actions
    assert any("drop" in a.lower() for a in actions), actions
    cells = [row.find_elements(By.TAG_NAME, "td")[-1].text for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")]
    assert sorted(cells) == ["-", "-", "-", "-", "yes"]  # being sent: words, not a red cross
