"""Each refusal as its own exception, with the API's messages; no answer as Unavailable;
a wait out of time as WaitTimeout (issue 19), against a live server."""

import time
import uuid

import pytest
from orchestrator_client import (
    ApiError,
    BadRequest,
    Client,
    Conflict,
    Forbidden,
    KeyReused,
    NotFound,
    PayloadTooLarge,
    Retry,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)

from tests.client.support import new_problem, uuids, work
from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_invalid_input_is_a_bad_request_with_the_field_messages(orch: Client):
    with pytest.raises(BadRequest) as raised:
        orch.problems.create(workflow="not-a-uuid", test_dataset=uuids(1), size_train_dataset=0)

    error = raised.value
    assert error.status == 400 and set(error.fields) == {"workflow", "size_train_dataset"}
    assert any("greater than or equal to 1" in m for m in error.fields["size_train_dataset"])
    assert "size_train_dataset: " in str(error) and str(error).startswith("POST problems/: HTTP 400")


def test_an_already_registered_datum_is_a_bad_request_and_registers_nothing(orch: Client):
    problem = new_problem(orch)
    data = uuids(2)
    orch.data.register(data[:1], problems=[problem])

    with pytest.raises(BadRequest) as raised:
        orch.data.register(data, problems=[problem])
    assert raised.value.fields or raised.value.detail
    assert [d["uuid"] for d in orch.data.list()] == data[:1]


def test_an_unknown_token_is_unauthorized(live_server):
    with pytest.raises(Unauthorized) as raised:
        list(Client(live_server.url, "no-such-token").problems.list())
    assert raised.value.status == 401 and raised.value.detail


def test_a_role_that_may_not_is_forbidden(live_server, worker):
    with pytest.raises(Forbidden):
        Client(live_server.url, worker.token).problems.create(
            workflow=str(uuid.uuid4()), test_dataset=uuids(1), size_train_dataset=1)


def test_an_unknown_object_is_not_found(orch: Client):
    with pytest.raises(NotFound):
        orch.problems.get(uuid.uuid4())
    with pytest.raises(NotFound):
        orch.wait_for_chain(uuid.uuid4(), timeout=1)


def test_canceling_an_ended_task_is_a_conflict(live_server, orch: Client, worker):
    problem = new_problem(orch)
    orch.data.register(uuids(1), problems=[problem])
    orch.algos.create(problem=problem, name="sgd")
    (done,) = work(live_server.url, worker.token, tasks=1)

    with pytest.raises(Conflict) as raised:
        orch.cancel(learnuplet=done)
    assert raised.value.status == 409 and raised.value.detail


def test_a_key_used_for_another_body_is_refused(orch: Client):
    orch.http.call("POST", "problems/", json_body={"workflow": str(uuid.uuid4()), "test_dataset": uuids(1),
                                                    "size_train_dataset": 1}, key="one-key")
    with pytest.raises(KeyReused):
        orch.http.call("POST", "problems/", json_body={"workflow": str(uuid.uuid4()), "test_dataset": uuids(1),
                                                        "size_train_dataset": 1}, key="one-key")


def test_a_body_over_the_limit_is_too_large(orch: Client):
    with pytest.raises(PayloadTooLarge):
        orch.data.register(uuids(60_000), problems=[str(uuid.uuid4())])  # 2.4 MB, over 2 MiB


def test_every_refusal_is_an_api_error():
    for error in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, KeyReused):
        assert issubclass(error, ApiError)


def test_no_server_is_unavailable_after_the_retries():
    client = Client(f"http://127.0.0.1:{free_port()}", "token", retry=Retry(tries=3, base=0.2, cap=0.2))
    started = time.monotonic()

    with pytest.raises(Unavailable) as raised:
        list(client.problems.list())

    assert raised.value.status == 0 and "ConnectError" in str(raised.value)
    assert 0.2 <= time.monotonic() - started < 5  # two pauses of 0.1 to 0.2 s between three tries


def test_a_wait_out_of_time_is_a_wait_timeout(orch: Client):
    problem = new_problem(orch)
    orch.data.register(uuids(1), problems=[problem])
    algo = orch.algos.create(problem=problem, name="sgd")["uuid"]  # nobody works on it
    started = time.monotonic()

    with pytest.raises(WaitTimeout, match="1 todo"):
        orch.wait_for_chain(algo, timeout=1)
    assert 0.9 < time.monotonic() - started < 5
    assert issubclass(WaitTimeout, TimeoutError)
