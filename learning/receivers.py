"""Registration in `problems` → learnuplet generation here, through Django's post_save.

An algo is one row: its own post_save. A data registration inserts thousands of rows in
one statement, which sends no signal; it then saves one DataUpload record, whose
post_save generates for the whole upload. Receivers run inside the registration's
transaction; an exception here rolls the registration back. `raw` saves (loaddata) are
records being restored, not registrations.
"""

from typing import Any

from learning import services
from learning.models import Learnuplet
from problems.models import Algo, DataUpload, Problem
from tasks.models import follow_problem


def on_algo_saved(sender: type[Algo], *, instance: Algo, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        instance.new_learnuplets = services.learnuplets_for_new_algo(instance)


def on_upload_saved(
    sender: type[DataUpload], *, instance: DataUpload, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        instance.new_learnuplets = services.learnuplets_for_upload(instance)


def on_problem_saved(
    sender: type[Problem], *, instance: Problem, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """An operator changed the problem's priority or run-time limit: its learnuplets follow."""
    if not created and not raw:
        follow_problem(Learnuplet, instance.pk, priority=instance.priority,
                       max_run_seconds=instance.max_run_seconds)
