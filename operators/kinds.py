"""The kinds of task operators act on, and which of them an operator means.

The top of the layers: it knows every app that owns tasks and hands their lifecycles to
the shared tools of `tasks.operations`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.db.models import Q

from learning.lifecycle import LEARNUPLETS
from predictions.lifecycle import PREDUPLETS
from problems.models import Algo, Problem
from tasks.lifecycle import Lifecycle
from tasks.operations import SelectionError

KINDS: Final[dict[str, tuple[Lifecycle, ...]]] = {
    "learn": (LEARNUPLETS,),
    "pred": (PREDUPLETS,),
    "all": (LEARNUPLETS, PREDUPLETS),
}


@dataclass(frozen=True)
class Selection:
    """Which tasks the operator means; every criterion given must hold."""

    problem: uuid.UUID | None = None
    algo: uuid.UUID | None = None
    uuids: tuple[uuid.UUID, ...] = ()
    since: datetime | None = None
    before: datetime | None = None

    def check(self) -> None:
        if self.problem is not None and not Problem.objects.filter(pk=self.problem).exists():
            raise SelectionError(f"no problem {self.problem}")
        if self.algo is not None and not Algo.objects.filter(pk=self.algo).exists():
            raise SelectionError(f"no algo {self.algo}")
        if self.since is not None and self.before is not None and self.since >= self.before:
            raise SelectionError(f"empty window: since {self.since.isoformat()} is not before {self.before.isoformat()}")

    def where(self, tasks: Lifecycle, *, time_field: str) -> Q:
        q = Q()
        if self.problem is not None:
            q &= Q(problem_id=self.problem)
        if self.algo is not None:
            q &= tasks.of_algo(self.algo)
        if self.uuids:
            q &= Q(pk__in=list(self.uuids))
        if self.since is not None:
            q &= Q(**{f"{time_field}__gte": self.since})
        if self.before is not None:
            q &= Q(**{f"{time_field}__lt": self.before})
        return q
