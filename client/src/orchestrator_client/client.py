"""`Client(url, token)`: the Orchestrator's v1 API for the people who register problems,
data and algos, request predictions and wait for them."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self, cast

import httpx

from orchestrator_client.resources import (
    Algos,
    DataSets,
    Events,
    Id,
    Learnuplets,
    Preduplets,
    Problems,
    Sites,
    ids,
)
from orchestrator_client.transport import Retry, Transport
from orchestrator_client.types import ENDED, LeaderboardRow, Learnuplet, Preduplet
from orchestrator_client.waiting import FEED_WAIT, Progress, follow


@dataclass(frozen=True)
class Curve:
    """One algo's learning curve: the perf of each done rank of its chain."""

    algo: str
    name: str
    points: list[tuple[int, float]]  # (rank, perf), by rank


class Client:
    """The v1 API at `url` (the server's root, e.g. `https://orchestrator.example.org`) as
    the client whose token is `token`.

    Every call is one logical request: a POST carries an Idempotency-Key of its own, and
    the call is retried with it under `retry` when no answer came, on a 5xx, or while the
    first try is still running, so a retry never applies a registration twice. Refusals
    raise the ApiError of their status (`errors`). Usable as a context manager, which
    closes its connections.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0, retry: Retry = Retry(),
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = Transport(url, token, timeout=timeout, retry=retry, transport=transport)
        self.problems = Problems(self.http)
        self.algos = Algos(self.http)
        self.data = DataSets(self.http)
        self.learnuplets = Learnuplets(self.http)
        self.preduplets = Preduplets(self.http)
        self.sites = Sites(self.http)
        self.events = Events(self.http)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def leaderboard(self, problem: Id) -> list[LeaderboardRow]:
        """One row per algo of the problem, best first."""
        return cast(list[LeaderboardRow], self.http.get(f"problems/{problem}/leaderboard/"))

    def learning_curve(self, problem: Id) -> list[Curve]:
        """Perf by rank, one curve per algo, in the leaderboard's order (as the admin draws it)."""
        board = self.leaderboard(problem)
        points: dict[str, list[tuple[int, float]]] = {row["algo"]: [] for row in board}
        for task in self.learnuplets.list(problem=problem, status="done"):
            if task["perf"] is not None:
                points.setdefault(task["algo"], []).append((task["rank"], task["perf"]))
        return [Curve(row["algo"], row["name"], sorted(points[row["algo"]])) for row in board]

    def predict(self, problem: Id, data: Id | Iterable[Id], model: Id | None = None) -> Preduplet:
        """Request a prediction on `data`, with the problem's best model unless `model` names
        a trained one of it; the preduplet (`todo`). See wait_for_prediction."""
        return self.preduplets.create(problem=problem, data=ids(data), model=model)

    def cancel(self, *, algo: Id | None = None, learnuplet: Id | None = None, preduplet: Id | None = None,
               reason: str = "") -> int:
        """Cancel one thing, named by keyword: an algo (its active learnuplets), a learnuplet
        (with the later ranks of its chain) or a preduplet. How many tasks the answer says
        were canceled (1 for a task)."""
        named = [(kind, key) for kind, key in (("algo", algo), ("learnuplet", learnuplet),
                                                ("preduplet", preduplet)) if key is not None]
        if len(named) != 1:
            raise TypeError("cancel() takes exactly one of algo=, learnuplet=, preduplet=")
        (kind, key), = named
        if kind == "algo":
            return self.algos.cancel(key, reason=reason)
        if kind == "learnuplet":
            self.learnuplets.cancel(key, reason=reason)
        else:
            self.preduplets.cancel(key, reason=reason)
        return 1

    def wait_for_chain(self, algo: Id, timeout: float | None = None, *,
                       on_progress: Callable[[Progress], None] | None = None,
                       wait: float = FEED_WAIT) -> list[Learnuplet]:
        """Wait until every learnuplet of the algo's chain has ended (done, failed or
        canceled), following the event feed; its learnuplets by rank. An algo without
        learnuplets (no data yet) has nothing to wait for. WaitTimeout after `timeout` s;
        NotFound for an unknown algo."""
        self.algos.get(algo)
        # The feed holds an event back while an older transaction runs: the count keeps a
        # wait from ending before it has seen every task.
        expected = self.learnuplets.count(algo=algo)
        follow(self.events, kind="learnuplet", algo=str(algo), timeout=timeout, on_progress=on_progress,
               wait=wait, done=lambda p: p.total >= expected and p.ended == p.total)
        return sorted(self.learnuplets.list(algo=algo), key=lambda task: task["rank"])

    def wait_for_prediction(self, preduplet: Id, timeout: float | None = None, *,
                            wait: float = FEED_WAIT) -> Preduplet:
        """Wait until the preduplet has ended, following the event feed; the preduplet then
        (`status` done with its `prediction_storage_uuid`, or failed or canceled)."""
        current = self.preduplets.get(preduplet)
        if current["status"] not in ENDED:
            key = str(preduplet)
            follow(self.events, kind="preduplet", task=key, timeout=timeout, wait=wait,
                   done=lambda p: p.statuses.get(key) in ENDED)
            current = self.preduplets.get(preduplet)
        return current
