"""A problem's admin page shows its leaderboard and its learning curve, in a real browser (issue 14)."""

from django.urls import reverse
from selenium.webdriver.common.by import By

from tests.browser.pages import OPERATOR, all_present, log_in, open_page, visible
from tests.conftest import Caller
from tests.factories import AlgoFactory, LearnupletFactory, ProblemFactory

CURVE_LINES = ".field-learning_curve svg polyline, .field-learning_curve svg path"


def test_it_shows_a_leaderboard_row_per_algo_and_a_curve_line_per_trained_algo(browser, live_server, operator: Caller):
    problem = ProblemFactory.create()
    trained = {"gradient boosting": [0.62, 0.80, 0.91], "logistic regression": [0.55, 0.70]}
    for name, perfs in trained.items():
        algo = AlgoFactory.create(problem=problem, name=name)
        for rank, perf in enumerate(perfs):
            LearnupletFactory.create(algo=algo, rank=rank, status="done", perf=perf)
        LearnupletFactory.create(algo=algo, rank=len(perfs), status="todo")
    LearnupletFactory.create(algo=AlgoFactory.create(problem=problem, name="nearest neighbours"), rank=0,
                             status="failed")
    log_in(browser, live_server.url, *OPERATOR)

    open_page(browser, live_server.url + reverse("admin:problems_problem_change", args=[problem.pk]),
              ".field-leaderboard_table table")

    rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in all_present(browser, ".field-leaderboard_table tbody tr")]
    # algo, best perf, at rank, model, done, failed, learnuplets: best first, untrained last.
    assert [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in rows] == [
        ("gradient boosting", "0.91", "2", "3", "0", "4"),
        ("logistic regression", "0.7", "1", "2", "0", "3"),
        ("nearest neighbours", "-", "-", "0", "1", "1"),
    ]

    curve = visible(browser, ".field-learning_curve svg")
    assert curve.size["width"] > 300 and curve.size["height"] > 100, curve.size
    lines = browser.find_elements(By.CSS_SELECTOR, CURVE_LINES)
    assert len(lines) == len(trained), "one line per algo with done learnuplets"
    # Each line is drawn: it spans ranks (width) and perfs that differ (height).
    assert all(line.size["width"] > 0 and line.size["height"] > 0 for line in lines), [ln.size for ln in lines]
    legend = curve.get_attribute("textContent") or ""
    assert all(name in legend for name in trained) and "nearest neighbours" not in legend
