"""Problem, algo and data admin; a problem's leaderboard, counts and learning curve (issues 2, 5, 7)."""

import re
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from learning.curve import Series, render_svg
from tests.factories import (
    AlgoFactory,
    DataFactory,
    LearnupletFactory,
    PredupletFactory,
    ProblemFactory,
)

pytestmark = pytest.mark.django_db


def problem_page(browser: Client, problem_pk: uuid.UUID) -> str:
    page = browser.get(reverse("admin:problems_problem_change", args=[problem_pk]))
    assert page.status_code == 200
    return page.content.decode()


def done(algo, rank: int, perf: float):
    return LearnupletFactory.create(algo=algo, rank=rank, status="done", perf=perf, training_done=timezone.now())


def test_it_shows_the_problems_leaderboard(admin_browser):
    problem = ProblemFactory.create()
    good, poor = AlgoFactory.create(problem=problem, name="good-algo"), AlgoFactory.create(problem=problem, name="poor-algo")
    best = done(good, 0, 0.91)
    done(poor, 0, 0.42)

    page = problem_page(admin_browser, problem.pk)

    assert page.index("good-algo") < page.index("poor-algo")
    assert "0.91" in page and str(best.model_end) in page


def test_it_shows_the_problems_task_counts_by_status(admin_browser):
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    LearnupletFactory.create_batch(3, algo=algo, status="todo")
    PredupletFactory.create(problem=problem, status="failed")

    page = problem_page(admin_browser, problem.pk)

    assert re.search(r"<th>learnuplets</th><td>0</td><td>3</td>", page)
    assert re.search(r"<th>preduplets</th><td>0</td><td>0</td><td>0</td><td>0</td><td>1</td>", page)


def test_it_draws_one_line_per_algo_in_the_learning_curve(admin_browser):
    problem = ProblemFactory.create()
    for name in ("sgd", "perceptron"):
        algo = AlgoFactory.create(problem=problem, name=name)
        for rank, perf in enumerate((0.5, 0.6, 0.7)):
            done(algo, rank, perf)

    page = problem_page(admin_browser, problem.pk)

    start = page.index("<title>Learning curve")
    svg = page[start:page.index("</svg>", start)]
    assert svg.count("<polyline") == 2
    assert "sgd" in svg and "perceptron" in svg


def test_it_builds_the_problem_page_in_the_same_queries_for_many_tasks(admin_browser):
    problem = ProblemFactory.create()
    algo = AlgoFactory.create(problem=problem)
    done(algo, 0, 0.5)
    problem_page(admin_browser, problem.pk)
    with CaptureQueriesContext(connection) as few:
        problem_page(admin_browser, problem.pk)
    for rank in range(1, 40):
        done(algo, rank, 0.5 + rank / 100)
    with CaptureQueriesContext(connection) as many:
        problem_page(admin_browser, problem.pk)

    assert len(many) == len(few)


def test_it_escapes_algo_names_in_the_curve():
    svg = render_svg([Series(algo=uuid.uuid4(), name="<script>alert(1)</script>", points=[(0, 0.5)])])

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_it_says_so_when_no_learnuplet_is_done():
    assert "No learnuplet is done yet." in render_svg([])


def test_it_draws_a_single_point_as_a_dot():
    svg = render_svg([Series(algo=uuid.uuid4(), name="a", points=[(0, 0.5)])])

    assert "<circle" in svg


def test_it_thins_a_long_series_to_at_most_the_limit():
    points = [(r, r / 1000) for r in range(2000)]

    svg = render_svg([Series(algo=uuid.uuid4(), name="a", points=points)], max_points=100)

    polyline = re.search(r'<polyline points="([^"]+)"', svg)
    assert polyline is not None
    coords = polyline.group(1).split()
    assert len(coords) <= 101


@pytest.mark.parametrize("name, make", [
    ("problems_problem", lambda: ProblemFactory.create()),
    ("problems_algo", lambda: AlgoFactory.create()),
    ("problems_data", lambda: DataFactory.create(problems=[uuid.uuid4()])),
])
def test_it_lists_in_the_same_queries_for_one_row_and_for_fifty(admin_browser, name, make):
    url = reverse(f"admin:{name}_changelist")
    make()
    admin_browser.get(url)
    with CaptureQueriesContext(connection) as one:
        assert admin_browser.get(url).status_code == 200
    for _ in range(49):
        make()
    with CaptureQueriesContext(connection) as fifty:
        assert admin_browser.get(url).status_code == 200

    # The problem filters list every problem (one query, whatever their number).
    assert len(fifty) == len(one), [q["sql"] for q in fifty]


def test_it_filters_data_by_problem(admin_browser):
    problem = ProblemFactory.create()
    mine, other = DataFactory.create(problems=[problem.pk]), DataFactory.create(problems=[uuid.uuid4()])

    page = admin_browser.get(reverse("admin:problems_data_changelist"), {"problem": str(problem.pk)})

    assert str(mine.pk) in page.content.decode() and str(other.pk) not in page.content.decode()


def test_it_finds_an_algo_by_name_or_uuid(admin_browser):
    algo = AlgoFactory.create(name="gradient-boost")
    AlgoFactory.create(name="perceptron")
    url = reverse("admin:problems_algo_changelist")

    for term in ("boost", str(algo.pk)):
        page = admin_browser.get(url, {"q": term}).content.decode()
        assert "gradient-boost" in page and "perceptron" not in page


def test_it_shows_an_algos_chain_counts(admin_browser):
    algo = AlgoFactory.create()
    LearnupletFactory.create_batch(2, algo=algo, status="failed")

    page = admin_browser.get(reverse("admin:problems_algo_change", args=[algo.pk])).content.decode()

    assert re.search(r"<th>learnuplets</th><td>0</td><td>0</td><td>0</td><td>0</td><td>2</td>", page)


def test_it_offers_no_way_to_register_problems_in_the_admin(admin_browser):
    assert admin_browser.get(reverse("admin:problems_problem_add")).status_code == 403
