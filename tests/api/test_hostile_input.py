"""Hostile input (issue 9): huge bodies, 100,000 UUIDs, deep nesting, NaN and Infinity,
duplicate UUIDs and keys, bytes that are not UTF-8. Each answers a clear 4xx JSON error at
once, on v1 and the 2017 routes, and writes nothing."""

import base64
import io
import json
import socket
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Algo, Data, Problem
from tasks.models import Status, TaskEvent
from tests.conftest import Caller
from tests.factories import LearnupletFactory, PredupletFactory
from tests.live import Server, database_url

API = "/api/v1"
MODELS = (Problem, Algo, Data, Learnuplet, Preduplet, TaskEvent)
HUNDRED_THOUSAND = 100_000


def u() -> str:
    return str(uuid.uuid4())


def many(n: int) -> list[str]:
    return [u() for _ in range(n)]


@pytest.fixture
def held(worker: Caller) -> dict[str, Learnuplet | Preduplet]:
    """A learnuplet and a preduplet the worker holds (attempt 1), for its reports."""
    claim = {"status": Status.PENDING, "worker": worker.worker, "attempt": 1,
             "lease_expires_at": "2999-01-01T00:00:00Z"}
    return {"learnuplet": LearnupletFactory.create(**claim), "preduplet": PredupletFactory.create(**claim)}


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in MODELS}


def snapshot() -> dict[str, object]:
    return {"counts": counts(),
            "tasks": sorted(Learnuplet.objects.values_list("uuid", "status", "perf", "attempt")),
            "preds": sorted(Preduplet.objects.values_list("uuid", "status", "attempt"))}


def basic(name: str, password: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{name}:{password}".encode()).decode())
    return http


@pytest.fixture
def senders(uploader: Caller, worker: Caller, held) -> dict[str, APIClient]:
    """Every route that reads a body, with the caller that may write there."""
    lu, pu = held["learnuplet"].uuid, held["preduplet"].uuid
    up_basic = basic("uploader", "uploader-pw-123")
    wk_basic = basic("worker", "worker-pw-123")
    return {
        f"{API}/problems/": uploader.http, f"{API}/algos/": uploader.http,
        f"{API}/data/": uploader.http, f"{API}/preduplets/": uploader.http,
        f"{API}/learnuplets/{lu}/heartbeat/": worker.http,
        f"{API}/learnuplets/{lu}/result/": worker.http,
        f"{API}/preduplets/{pu}/heartbeat/": worker.http,
        f"{API}/preduplets/{pu}/result/": worker.http,
        "/problem": up_basic, "/algo": up_basic, "/data": up_basic,
        "/prediction": up_basic, f"/worker/learnuplet/{lu}": wk_basic,
        f"/learndone/{lu}": wk_basic, f"/preddone/{pu}": wk_basic,
    }


def post_raw(http: APIClient, path: str, body: bytes, content_type: str = "application/json"):
    return http.generic("POST", path, body, content_type=content_type)  # type: ignore[arg-type]  # DRF's stub: str; Django takes bytes


def assert_refused(r, statuses: tuple[int, ...] = (400,)) -> None:
    assert r.status_code in statuses, (r.status_code, r.content[:300])
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, dict) and body, body


# Huge bodies

def test_it_refuses_a_body_over_the_limit_with_413_on_every_route(senders):
    body = json.dumps({"uuid": many(80_000), "problems": [u()]}).encode()  # about 3.2 MB
    before = snapshot()
    for path, http in senders.items():
        assert_refused(post_raw(http, path, body), (413,))
    assert snapshot() == before


class Endless(io.RawIOBase):
    """A request body of `size` bytes made as it is read, counting what was read."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.sent)
        buffer[:n] = b"[" * n
        self.sent += n
        return n


def test_it_refuses_a_gigabyte_body_after_reading_only_the_limit(uploader, settings):
    body = Endless(2**30)
    environ = RequestFactory().generic("POST", f"{API}/data/",
                                       HTTP_AUTHORIZATION=f"Token {uploader.token}").environ
    environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(body.size), "CONTENT_TYPE": "application/json"})
    answered: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answered.append(status)
        return lambda chunk: None

    # As Django's test client does: the test's transaction holds the connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    tracemalloc.start()
    try:
        started = time.monotonic()
        response = WSGIHandler()(environ, start_response)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert answered[0].startswith("413"), answered
    assert json.loads(b"".join(response))["detail"]
    assert body.sent <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 65536
    assert peak < 16 * 2**20, f"refusing it took {peak / 2**20:.0f} MB"
    assert elapsed < 5
    print(f"1 GiB body: 413 after reading {body.sent} bytes, {peak / 2**20:.1f} MB, {elapsed * 1000:.0f} ms")


@pytest.mark.django_db(transaction=True)
def test_it_answers_413_to_a_real_connection_announcing_a_gigabyte(uploader):
    """Over HTTP to gunicorn: the answer comes once the limit is read, not after a gigabyte."""
    with Server(database_url(connection.settings_dict), workers=1) as server:
        address = urlparse(server.url)
        started = time.monotonic()
        with socket.create_connection((address.hostname, address.port), timeout=10) as s:
            s.sendall(f"POST {API}/data/ HTTP/1.1\r\nHost: {address.hostname}\r\n"
                      f"Authorization: Token {uploader.token}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {2**30}\r\nConnection: close\r\n\r\n".encode())
            try:
                for _ in range(64):  # 4 MB at most, twice the limit
                    s.sendall(b"[" * 65536)
            except OSError:
                pass  # the server answered and closed while we were still sending
            answer = b""
            while data := s.recv(65536):
                answer += data
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert elapsed < 10
    print(f"1 GiB announced to gunicorn: 413 in {elapsed * 1000:.0f} ms")


# 100,000 UUIDs

@pytest.mark.parametrize(("path", "field"), [
    (f"{API}/problems/", "test_dataset"), (f"{API}/data/", "uuid"), (f"{API}/data/", "problems"),
    (f"{API}/preduplets/", "data"), ("/data", "uuid"), ("/problem", "test_dataset"), ("/prediction", "data"),
])
def test_it_refuses_a_hundred_thousand_uuids_in_a_list(senders, path, field):
    http = senders[path]
    body = {"uuid": u(), "workflow": u(), "size_train_dataset": 1, "problems": [u()], "problem": u(),
            "data": [u()], "name": "x", "test_dataset": [u()]}
    body[field] = many(HUNDRED_THOUSAND)
    before = snapshot()
    assert_refused(post_raw(http, path, json.dumps(body).encode()), (413,))
    assert snapshot() == before


@pytest.mark.parametrize(("path", "field", "cap"), [
    (f"{API}/data/", "uuid", 50_000), (f"{API}/data/", "problems", 1_000), (f"{API}/preduplets/", "data", 10_000),
])
def test_it_refuses_lists_over_their_cap_when_the_body_limit_is_raised(senders, settings, path, field, cap):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
    http = senders[path]
    body = {"uuid": [u()], "problems": [u()], "problem": u(), "data": [u()], field: many(HUNDRED_THOUSAND)}
    before = snapshot()
    started = time.monotonic()
    r = post_raw(http, path, json.dumps(body).encode())
    assert_refused(r)
    assert str(cap) in json.dumps(r.json())
    assert time.monotonic() - started < 5
    assert snapshot() == before


def test_it_refuses_a_hundred_thousand_train_perf_keys(senders, held):
    http = senders[f"{API}/learnuplets/{held['learnuplet'].uuid}/result/"]
    body = {"attempt": 1, "status": "done", "perf": 0.5, "train_perf": {k: 0.5 for k in many(HUNDRED_THOUSAND)}}
    before = snapshot()
    assert_refused(post_raw(http, f"{API}/learnuplets/{held['learnuplet'].uuid}/result/", json.dumps(body).encode()),
                   (413,))
    assert snapshot() == before


def test_it_refuses_too_many_query_parameters_with_json(uploader):
    query = "&".join(f"problem={u()}" for _ in range(2_000))
    r = uploader.http.get(f"{API}/algos/?{query}")
    assert_refused(r)


# Deep nesting

@pytest.mark.parametrize("depth", [500, 100_000])
def test_it_refuses_deeply_nested_json_on_every_route(senders, depth):
    nested = b"[" * depth + b"]" * depth
    before = snapshot()
    for path, http in senders.items():
        for body in (nested, b'{"uuid": ' + nested + b', "problems": ' + nested + b"}"):
            assert_refused(post_raw(http, path, body))
    assert snapshot() == before


# NaN and Infinity

NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b'"NaN"', b'"Infinity"', b'"-inf"']


@pytest.mark.parametrize("value", NON_FINITE, ids=[v.decode() for v in NON_FINITE])
@pytest.mark.parametrize("where", ["perf", "train_perf", "test_perf"])
@pytest.mark.parametrize("route", ["v1", "2017"])
def test_it_refuses_non_finite_performances(senders, held, value, where, route):
    task = held["learnuplet"]
    path = f"{API}/learnuplets/{task.uuid}/result/" if route == "v1" else f"/learndone/{task.uuid}"
    http = senders[path]
    perf = value if where == "perf" else b"0.5"
    train = {str(d): 0.5 for d in task.train_data}
    test = {str(d): 0.5 for d in task.test_data}
    scores = json.dumps({"train_perf": train, "test_perf": test})
    key = str((task.train_data if where == "train_perf" else task.test_data)[0])
    if where != "perf":
        scores = scores.replace(f'"{key}": 0.5', f'"{key}": {value.decode()}')
    body = b'{"attempt": 1, "status": "done", "perf": ' + perf + b", " + scores[1:].encode()
    before = snapshot()
    assert_refused(post_raw(http, path, body))
    assert snapshot() == before


# Duplicate UUIDs and keys

def test_it_refuses_duplicate_uuids_in_one_registration(senders):
    problem = Problem.objects.first()
    assert problem is not None
    a, t = u(), u()
    cases = [
        (f"{API}/data/", {"uuid": [a, u(), a], "problems": [str(problem.pk)]}),
        (f"{API}/data/", {"uuid": [u()], "problems": [str(problem.pk), str(problem.pk)]}),
        (f"{API}/problems/", {"workflow": u(), "test_dataset": [t, t], "size_train_dataset": 1}),
        (f"{API}/preduplets/", {"problem": str(problem.pk), "data": [a, a]}),
        ("/data", {"uuid": [a, a], "problems": [str(problem.pk)]}),
        ("/problem", {"uuid": u(), "workflow": u(), "test_dataset": [t, t], "size_train_dataset": 1}),
    ]
    before = snapshot()
    for path, body in cases:
        http = senders[path]
        assert_refused(http.post(path, body, format="json"))
    assert snapshot() == before


@pytest.mark.parametrize("route", ["v1", "2017"])
def test_it_refuses_a_duplicate_uuid_in_a_prediction_result(senders, held, route):
    task = held["preduplet"]
    path = f"{API}/preduplets/{task.uuid}/result/" if route == "v1" else f"/preddone/{task.uuid}"
    http = senders[path]
    s = u()
    before = snapshot()
    assert_refused(http.post(path, {"attempt": 1, "status": "done", "prediction_storage_uuid": [s, s]}, format="json"))
    assert snapshot() == before


def test_it_refuses_a_duplicate_key_in_a_json_object(senders, held):
    task = held["learnuplet"]
    d = str(task.train_data[0])
    path = f"{API}/learnuplets/{task.uuid}/result/"
    http = senders[path]
    body = f'{{"attempt": 1, "status": "done", "perf": 0.5, "train_perf": {{"{d}": 0.1, "{d}": 0.9}}}}'
    before = snapshot()
    r = post_raw(http, path, body.encode())
    assert_refused(r)
    assert "duplicate key" in r.json()["detail"]
    assert snapshot() == before


# Bytes that are not UTF-8, and text PostgreSQL cannot store

NOT_TEXT = [
    b'{"name": "\xff\xfe", "problem": "x"}',
    '{"name": "é", "problem": "x"}'.encode("latin-1"),
    b"\xef\xbb\xbf\xff",
    '{"name": "é"}'.encode("utf-16"),
]


@pytest.mark.parametrize("body", NOT_TEXT, ids=["ff-fe", "latin-1", "bom-then-ff", "utf-16"])
def test_it_refuses_bodies_that_are_not_utf8_on_every_route(senders, body):
    before = snapshot()
    for path, http in senders.items():
        assert_refused(post_raw(http, path, body))
    assert snapshot() == before


@pytest.mark.parametrize("text", ["\\ud800", "\\udfff", "a\\u0000b"], ids=["high-surrogate", "low-surrogate", "nul"])
def test_it_refuses_text_postgresql_cannot_store(senders, text):
    first = Problem.objects.first()
    assert first is not None
    problem = str(first.pk)
    cases = [(f"{API}/algos/", f'{{"problem": "{problem}", "name": "{text}"}}'),
             ("/algo", f'{{"uuid": "{u()}", "problem": "{problem}", "name": "{text}"}}')]
    before = snapshot()
    for path, body in cases:
        http = senders[path]
        assert_refused(post_raw(http, path, body.encode()))
    assert snapshot() == before


def test_it_refuses_a_lone_surrogate_as_a_key(senders, held):
    path = f"{API}/learnuplets/{held['learnuplet'].uuid}/result/"
    http = senders[path]
    before = snapshot()
    r = post_raw(http, path, b'{"attempt": 1, "status": "done", "perf": 0.5, "train_perf": {"\\ud800": 0.5}}')
    assert_refused(r)
    assert snapshot() == before


def test_it_refuses_an_unknown_charset(uploader):
    r = post_raw(uploader.http, f"{API}/algos/", b'{"name": "x"}', content_type="application/json; charset=no-such")
    assert_refused(r)


def test_it_refuses_a_body_that_a_codec_refuses_without_a_reason(uploader):
    # The idna codec raises the bare UnicodeError, which has no `reason`: it was a 500.
    r = post_raw(uploader.http, f"{API}/algos/", b"xn--zz", content_type="application/json; charset=idna")
    assert_refused(r)


@pytest.mark.parametrize("path", [f"{API}/algos/?problem=%ff", f"{API}/learnuplets/?status=%ff%fe",
                                  "/algo?problem=%ff", "/learnuplet?worker=%c3%28"])
def test_it_refuses_query_values_that_are_not_utf8(uploader, path):
    http = uploader.http if path.startswith("/api/") else basic("uploader", "uploader-pw-123")
    assert_refused(http.get(path))


@pytest.mark.parametrize("path", [f"{API}/problems/%ff%fe/", "/problem/%ff%fe", "/learndone/%ff"])
def test_it_answers_a_path_that_is_not_utf8_with_a_json_4xx(uploader, worker, path):
    caller = worker if "done" in path else uploader
    http = caller.http if path.startswith("/api/") else basic(
        caller.client.user.username, "worker-pw-123" if caller is worker else "uploader-pw-123")
    r = http.post(path, {}, format="json") if "done" in path else http.get(path)
    assert_refused(r, (400, 404))


@pytest.mark.parametrize("path", [f"{API}/learnuplets/?status=,,,", f"{API}/preduplets/?status=todo,"])
def test_it_refuses_empty_items_in_a_comma_separated_filter(uploader, path):
    r = uploader.http.get(path)
    assert_refused(r)
    assert "status" in r.json()
