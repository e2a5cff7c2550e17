"""An operator re-queues a failed learnuplet from the admin, in a real browser (issue 14)."""

from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select

from tests.browser.pages import OPERATOR, all_present, log_in, open_page, visible, wait_for
from tests.conftest import Caller
from tests.factories import AlgoFactory, LearnupletFactory

REASON = "storage was down, fixed at 14:05"


def test_it_requeues_a_failed_learnuplet_found_through_the_status_filter(browser, live_server, operator: Caller):
    algo = AlgoFactory.create(name="logistic regression")
    failed = LearnupletFactory.create(algo=algo, rank=0, status="failed", last_error="storage timeout",
                                      training_done=timezone.now())
    todo = LearnupletFactory.create(algo=algo, rank=1, status="todo")
    log_in(browser, live_server.url, *OPERATOR)

    # From the admin's index to the learnuplets, then the status filter's "failed".
    browser.find_element(By.CSS_SELECTOR, f"a[href='{reverse('admin:learning_learnuplet_changelist')}']").click()
    visible(browser, "#changelist")
    browser.find_element(By.CSS_SELECTOR, "#changelist-filter a[href*='status__exact=failed']").click()
    wait_for(browser, EC.url_contains("status__exact=failed"))
    rows = all_present(browser, "#result_list tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "input.action-select").get_attribute("value") for r in rows] == [
        str(failed.pk)], "the Failed filter should list the failed learnuplet alone"
    assert str(todo.pk) not in browser.find_element(By.ID, "result_list").text

    rows[0].find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text("Re-queue selected failed or canceled tasks")
    browser.find_element(By.NAME, "reason").send_keys(REASON)
    browser.find_element(By.CSS_SELECTOR, "#changelist-form button[name=index]").click()

    message = visible(browser, ".messagelist .success")
    assert message.text == "Re-queued 1 of the 1 selected learnuplets."

    # The task's page: now todo, and its history ends with the operator's change and reason.
    open_page(browser, live_server.url + reverse("admin:learning_learnuplet_change", args=[failed.pk]),
              ".field-history table")
    history = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
               for row in browser.find_elements(By.CSS_SELECTOR, ".field-history table tbody tr")]
    assert history, "the task's page shows no history"
    at, from_status, to_status, attempt, worker, by, reason = history[-1]
    assert (from_status, to_status, by, reason) == ("failed", "todo", "ops", REASON)
    assert browser.find_element(By.CSS_SELECTOR, ".field-status .readonly").text == "Todo"  # the status's label
