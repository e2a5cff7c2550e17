"""Problem, algo and data admin; a problem's leaderboard, counts and learning curve (issues 2, 5, 7)."""

import re
import uuid
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from learning.curve import Series, curve_of, render_svg
from learning.services import leaderboard
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


SVG = "{http://www.w3.org/2000/svg}"


def circles_outside_the_plot(svg: str) -> list[tuple[float, float]]:
    """The centres of the dots that are not wholly inside the plot's frame (the first
    rect), clear of its 1-px border."""
    root = ET.fromstring(svg)
    frame = root.find(f"{SVG}rect")
    assert frame is not None
    left, top = float(frame.get("x", "")), float(frame.get("y", ""))
    right, bottom = left + float(frame.get("width", "")), top + float(frame.get("height", ""))
    circles = [(float(c.get("cx", "")), float(c.get("cy", "")), float(c.get("r", ""))) for c in root.iter(f"{SVG}circle")]
    assert circles
    return [(cx, cy) for cx, cy, r in circles
            if not (left + 1 <= cx - r and cx + r <= right - 1 and top + 1 <= cy - r and cy + r <= bottom - 1)]


def test_it_draws_a_single_point_whole_inside_the_plot():
    svg = render_svg([Series(algo=uuid.uuid4(), name="a", points=[(0, 0.5)])])

    assert circles_outside_the_plot(svg) == []


def test_it_draws_the_first_and_last_points_whole_inside_the_plot():
    # Rank 0 is on the y axis; 0 and 0.8 are ticks, the ends of the perf axis.
    svg = render_svg([Series(algo=uuid.uuid4(), name="a", points=[(0, 0.0), (1, 0.4), (2, 0.8)]),
                      Series(algo=uuid.uuid4(), name="b", points=[(0, 0.8), (1, 0.2)])])

    assert circles_outside_the_plot(svg) == []


def legend_of(svg: str) -> list[str]:
    legend = ET.fromstring(svg).find(f"{SVG}g[@class='legend']")
    assert legend is not None
    return [t.text or "" for t in legend.iter(f"{SVG}text")]


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_it_lists_the_curves_algos_in_the_leaderboards_order(higher_is_better):
    problem = ProblemFactory.create(higher_is_better=higher_is_better)
    # Registered in an order that is neither the best-first nor the worst-first one.
    for name, perfs in (("middle", (0.5, 0.6)), ("top", (0.9,)), ("bottom", (0.1, 0.2, 0.3))):
        algo = AlgoFactory.create(problem=problem, name=name)
        for rank, perf in enumerate(perfs):
            done(algo, rank, perf)
    AlgoFactory.create(problem=problem, name="untrained")

    svg = render_svg(curve_of(problem), higher_is_better=higher_is_better)

    board = [row.name for row in leaderboard(problem) if row.perf is not None]
    assert board == (["top", "middle", "bottom"] if higher_is_better else ["bottom", "middle", "top"])
    assert legend_of(svg) == board


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


def test_operators_set_a_problems_priority_and_run_time_limit_and_its_tasks_follow(admin_browser):
    from django.urls import reverse

    from learning.models import Learnuplet
    from tests.factories import AlgoFactory, LearnupletFactory, ProblemFactory

    problem = ProblemFactory.create()
    task = LearnupletFactory.create(algo=AlgoFactory.create(problem=problem))
    url = reverse("admin:problems_problem_change", args=[problem.pk])
    form = admin_browser.get(url).content.decode()
    assert 'name="priority"' in form and 'name="max_run_seconds"' in form
    assert 'name="size_train_dataset"' not in form  # what was registered stays as it is

    r = admin_browser.post(url, {"priority": "7", "max_run_seconds": "600"})

    assert r.status_code == 302, r.content[:500]
    problem.refresh_from_db()
    assert (problem.priority, problem.max_run_seconds) == (7, 600)
    assert Learnuplet.objects.values_list("priority", "max_run_seconds").get(pk=task.pk) == (7, 600)
    assert admin_browser.post(url, {"priority": "7", "max_run_seconds": "0"}).status_code == 200  # refused
