"""A problem's settings → its preduplets, through Django's post_save (as in learning)."""

from typing import Any

from predictions.models import Preduplet
from problems.models import Problem
from tasks.models import follow_problem


def on_problem_saved(
    sender: type[Problem], *, instance: Problem, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """An operator changed the problem's priority or run-time limit: its preduplets follow."""
    if not created and not raw:
        follow_problem(Preduplet, instance.pk, priority=instance.priority,
                       max_run_seconds=instance.max_run_seconds)
