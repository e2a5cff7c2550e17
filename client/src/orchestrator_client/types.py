"""The API's records as the client hands them back: the JSON objects themselves, typed.

TypedDicts, not classes: a record prints, compares and dumps to JSON as the API sent it,
and a field the server adds later passes through. UUIDs and times are strings, as in the
JSON (api.md: canonical lower-case UUIDs, ISO 8601 times).
"""

from typing import Literal, NotRequired, TypedDict

Status = Literal["waiting", "todo", "pending", "done", "failed", "canceled"]
ENDED: frozenset[str] = frozenset({"done", "failed", "canceled"})


class Problem(TypedDict):
    uuid: str
    workflow: str
    timestamp_upload: str
    # Secret to clients: only the 201 answer to the problem's creator shows it.
    test_dataset: NotRequired[list[str]]
    size_train_dataset: int
    higher_is_better: bool
    priority: int
    max_run_seconds: int | None


class Algo(TypedDict):
    uuid: str
    problem: str
    name: str
    timestamp_upload: str
    new_learnuplets: NotRequired[int]  # in the 201 answer that creates it


class Data(TypedDict):
    uuid: str
    problems: list[str]
    timestamp_upload: str
    site: str | None


class Learnuplet(TypedDict):
    uuid: str
    problem: str
    workflow: str
    train_data: list[str]
    test_data: NotRequired[list[str]]  # compute and operators only
    algo: str
    model_start: str | None
    model_end: str
    rank: int
    worker: str | None
    status: Status
    perf: float | None
    test_perf: NotRequired[dict[str, float]]  # compute and operators only
    train_perf: dict[str, float]
    training_creation: str
    training_done: str | None
    attempt: int
    lease_expires_at: str | None
    last_error: str
    site: str | None
    not_before: str | None
    error_kind: str


class Preduplet(TypedDict):
    uuid: str
    problem: str
    workflow: str
    data: list[str]
    prediction_storage_uuid: list[str]
    model: str
    worker: str | None
    status: Status
    timestamp_request: str
    timestamp_done: str | None
    attempt: int
    lease_expires_at: str | None
    last_error: str
    site: str | None
    not_before: str | None
    error_kind: str


class LeaderboardRow(TypedDict):
    """One algo of a problem: its best model so far (`perf`, `model` and `rank` null
    while none is trained) and its learnuplets' counts."""

    algo: str
    name: str
    perf: float | None
    model: str | None
    rank: int | None
    done: int
    failed: int
    total: int


class Event(TypedDict):
    """One status change of a task, from the event feed."""

    id: int
    kind: Literal["learnuplet", "preduplet"]
    task: str
    problem: str | None
    from_status: str  # "" for a task's creation
    to_status: Status
    attempt: int
    worker: str | None
    actor: str
    reason: str
    at: str


class Site(TypedDict):
    uuid: str
    name: str
