"""The lists still fit a 1400-px window with sites (issue 15): the site column of data,
learnuplets and preduplets, the site filter beside them, long site names of many words
or of one, and the lists of sites and clients."""

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By

from accounts.models import Role, Site
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Data
from tests.browser.pages import OPERATOR, log_in, open_page
from tests.browser.test_admin_lists_fit import overflow, seed
from tests.conftest import Caller, make_caller

NAMES = ("Hôpital universitaire de la Pitié-Salpêtrière (Assistance Publique)",
         "UniversitätsklinikumHamburgEppendorfRadiologie", "lab-b")


def seed_sites() -> None:
    """seed()'s records, two of three of them at a site of a long name."""
    seed()
    sites = [Site.objects.create(name=name) for name in NAMES]
    for model in (Learnuplet, Preduplet, Data):
        for i, pk in enumerate(model._default_manager.order_by("pk").values_list("pk", flat=True)):
            if i % 3:
                model._default_manager.filter(pk=pk).update(site=sites[i % len(sites)])
    for i, name in enumerate(NAMES):
        make_caller(f"compute-worker-of-a-long-name-{i}", Role.COMPUTE, site=name)


@pytest.mark.parametrize("name", [
    "learning_learnuplet", "predictions_preduplet", "problems_data", "accounts_site", "accounts_apiclient",
])
def test_every_column_of_the_list_fits_a_1400_px_window_with_sites(browser, live_server, operator: Caller, name):
    seed_sites()
    log_in(browser, live_server.url, *OPERATOR)

    open_page(browser, live_server.url + reverse(f"admin:{name}_changelist"), "#result_list")

    assert browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert overflow(browser) == {"scroll": 0, "page": 0, "past_window": []}
