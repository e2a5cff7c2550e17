"""The API's collections: create, get, list every page, cancel.

Lists are iterators that read the next page when the previous one is used up, so a loop
over a million learnuplets holds one page at a time. Filters take exact values; where the
API takes several values (`status`), a list is sent comma-separated.
"""

import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar, cast

from orchestrator_client.errors import ApiError
from orchestrator_client.files import folder_data
from orchestrator_client.transport import Transport
from orchestrator_client.types import Algo, Data, Event, Learnuplet, Preduplet, Problem, Site

Id = str | uuid.UUID
T = TypeVar("T")
PAGE_SIZE = 1000  # the API's largest page


def ids(values: Id | Iterable[Id]) -> list[str]:
    """One UUID or several, as the API's strings."""
    if isinstance(values, str | uuid.UUID):
        return [str(values)]
    return [str(v) for v in values]


class Collection(Generic[T]):
    path = ""

    def __init__(self, http: Transport) -> None:
        self.http = http

    def get(self, key: Id) -> T:
        return cast(T, self.http.get(f"{self.path}{key}/"))

    def _pages(self, filters: dict[str, Any], page_size: int) -> Iterator[T]:
        # Page numbers, not the answer's `next` URL: that URL is built from the Host the
        # server saw, which behind a proxy need not be the address this client uses.
        params = {name: value for name, value in filters.items() if value is not None}
        page = 1
        while True:
            body = self.http.get(self.path, **params, page=page, page_size=page_size)
            yield from cast(list[T], body["results"])
            if not body.get("next"):
                return
            page += 1

    def count(self, **filters: Any) -> int:
        """How many records match, in one small request."""
        params = {name: value for name, value in filters.items() if value is not None}
        return int(self.http.get(self.path, **params, page_size=1)["count"])


class Problems(Collection[Problem]):
    path = "problems/"

    def create(self, *, workflow: Id, test_dataset: Id | Iterable[Id], size_train_dataset: int,
               higher_is_better: bool = True, uuid: Id | None = None) -> Problem:
        """Register a problem; the answer shows its secret test data, to its creator only."""
        body: dict[str, Any] = {"workflow": str(workflow), "test_dataset": ids(test_dataset),
                                "size_train_dataset": size_train_dataset, "higher_is_better": higher_is_better}
        if uuid is not None:
            body["uuid"] = str(uuid)
        return cast(Problem, self.http.post(self.path, body))

    def list(self, *, page_size: int = PAGE_SIZE) -> Iterator[Problem]:
        return self._pages({}, page_size)


class Algos(Collection[Algo]):
    path = "algos/"

    def create(self, *, problem: Id, name: str, uuid: Id | None = None) -> Algo:
        """Register an algo (its file on Storage is named by its UUID); the answer's
        `new_learnuplets` is the length of the chain it starts."""
        body = {"problem": str(problem), "name": name, **({"uuid": str(uuid)} if uuid is not None else {})}
        return cast(Algo, self.http.post(self.path, body))

    def list(self, *, problem: Id | None = None, page_size: int = PAGE_SIZE) -> Iterator[Algo]:
        return self._pages({"problem": problem}, page_size)

    def cancel(self, algo: Id, *, reason: str = "") -> int:
        """Cancel every active learnuplet of the algo; it takes no new data. How many were canceled."""
        return int(self.http.post(f"{self.path}{algo}/cancel/", _reason(reason))["canceled"])


@dataclass(frozen=True)
class Registration:
    """A data registration's answer, and for a folder which file got which UUID."""

    data: list[Data]
    new_learnuplets: int
    files: dict[Path, str] = field(default_factory=dict)


class DataSets(Collection[Data]):
    path = "data/"

    def register(self, data: Id | Iterable[Id] | os.PathLike[str], *, problems: Id | Iterable[Id],
                 site: Id | None = None, storage: str | os.PathLike[str] | None = None) -> Registration:
        """Register data for `problems`: UUIDs, or a folder (a Path) of files (see `files`: files
        named by a UUID are registered as they are, others are first copied into
        `storage`). All or nothing: a refused registration registers none, and the copies
        made for it are removed. `site`: operators only (default: the client's own)."""
        if isinstance(data, os.PathLike):
            folder, uuids = (found := folder_data(data, storage)), found.uuids
        else:
            folder, uuids = None, ids(data)
        body: dict[str, Any] = {"uuid": uuids, "problems": ids(problems)}
        if site is not None:
            body["site"] = str(site)
        try:
            answer = self.http.post(self.path, body)
        except ApiError:
            if folder:
                folder.remove_copies()
            raise
        return Registration(data=answer["data"], new_learnuplets=answer["new_learnuplets"],
                            files=folder.files if folder else {})

    def list(self, *, problem: Id | None = None, site: Id | None = None, page_size: int = PAGE_SIZE) -> Iterator[Data]:
        return self._pages({"problem": problem, "site": site}, page_size)


class Learnuplets(Collection[Learnuplet]):
    path = "learnuplets/"

    def list(self, *, problem: Id | None = None, algo: Id | None = None, status: str | Iterable[str] | None = None,
             worker: Id | None = None, rank: int | None = None, site: Id | None = None,
             page_size: int = PAGE_SIZE) -> Iterator[Learnuplet]:
        return self._pages({"problem": problem, "algo": algo, "status": _statuses(status), "worker": worker,
                            "rank": rank, "site": site}, page_size)

    def cancel(self, learnuplet: Id, *, reason: str = "") -> Learnuplet:
        """Cancel the task and the later ranks of its chain (Conflict when it has ended)."""
        return cast(Learnuplet, self.http.post(f"{self.path}{learnuplet}/cancel/", _reason(reason)))


class Preduplets(Collection[Preduplet]):
    path = "preduplets/"

    def create(self, *, problem: Id, data: Id | Iterable[Id], model: Id | None = None) -> Preduplet:
        body: dict[str, Any] = {"problem": str(problem), "data": ids(data)}
        if model is not None:
            body["model"] = str(model)
        return cast(Preduplet, self.http.post(self.path, body))

    def list(self, *, problem: Id | None = None, status: str | Iterable[str] | None = None,
             worker: Id | None = None, site: Id | None = None, page_size: int = PAGE_SIZE) -> Iterator[Preduplet]:
        return self._pages({"problem": problem, "status": _statuses(status), "worker": worker, "site": site},
                           page_size)

    def cancel(self, preduplet: Id, *, reason: str = "") -> Preduplet:
        return cast(Preduplet, self.http.post(f"{self.path}{preduplet}/cancel/", _reason(reason)))


class Sites(Collection[Site]):
    path = "sites/"

    def list(self, *, page_size: int = PAGE_SIZE) -> Iterator[Site]:
        return self._pages({}, page_size)


class FeedPage(TypedDict):
    events: list[Event]
    next: int  # the `after` of the next read


class Events:
    """The event log as a feed (`GET events/`): pages in id order after a cursor."""

    def __init__(self, http: Transport) -> None:
        self.http = http

    def page(self, *, after: int = 0, wait: float = 0, kind: str | None = None, task: Id | None = None,
             problem: Id | None = None, algo: Id | None = None) -> FeedPage:
        """At most 1000 events after `after`; with `wait`, an empty answer is held up to
        that many seconds (at most 60) until one arrives."""
        params: dict[str, Any] = {"after": after, "kind": kind, "task": task, "problem": problem, "algo": algo}
        if wait > 0:
            params["wait"] = round(wait, 3)
        return cast(FeedPage, self.http.call("GET", "events/", params=params, wait=wait).body)


def _reason(reason: str) -> dict[str, str]:
    return {"reason": reason} if reason else {}


def _statuses(status: str | Iterable[str] | None) -> str | None:
    if status is None or isinstance(status, str):
        return status
    return ",".join(status)
