"""A wake-up is never spent on a claim that leaves without using it, and a caller's first
try is not made twice (tasks.wakeups)."""

import socket
import threading
import time

import pytest

from learning.models import Learnuplet
from tasks import wakeups
from tests.queue.test_waiting import in_thread, listening, waiting_claims

pytestmark = pytest.mark.django_db(transaction=True)


class Attempts:
    """An attempt that counts its calls, finds nothing, and can be held in its next call."""

    def __init__(self, answer: object = None) -> None:
        self.calls = 0
        self.answer = answer
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.stopped = False

    def __call__(self) -> object:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        if self.stopped:
            return "stopped"
        return self.answer if self.calls > 1 else None

    def hold_next(self) -> None:
        self.entered.clear()
        self.release.clear()


def end(*pairs: tuple[threading.Thread, Attempts]) -> None:
    """The waiting claims of a test take what they are woken for next, and leave."""
    for _, attempts in pairs:
        attempts.stopped = True
    wakeups.WAKEUPS.wake_all()
    for thread, _ in pairs:
        thread.join(5)
        assert not thread.is_alive()
    assert wakeups.WAKEUPS.waiting() == (0, 0)


def first_in_line(waiter: wakeups.Waiter) -> None:
    """Enlist `waiter` ahead of the claims already waiting: the next wake-up is its."""
    wakeups.WAKEUPS._enlist(waiter)
    with wakeups.WAKEUPS._lock:
        wakeups.WAKEUPS._claims.insert(0, wakeups.WAKEUPS._claims.pop())


def wait_for(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


@pytest.fixture
def no_fallback(monkeypatch):
    # Only the hand-off may wake the second waiter, not the fallback probe.
    monkeypatch.setattr(wakeups, "FALLBACK_SECONDS", 3600.0)
    listening()


def test_a_claim_woken_while_it_claims_another_task_hands_the_wake_up_on(no_fallback):
    first, second = Attempts(answer="its own task"), Attempts()
    a, a_result = in_thread(lambda: wakeups.WAKEUPS.claim(first, model=Learnuplet, site=None, timeout=10))
    waiting_claims(1)
    first.hold_next()
    wakeups.WAKEUPS.wake(Learnuplet.kind, None, 1)  # A tries again
    assert first.entered.wait(5)
    # A task made claimable while A's try runs: A, enlisted again, is woken for it...
    assert wakeups.WAKEUPS.wake(Learnuplet.kind, None, 1) == 1
    b, _ = in_thread(lambda: wakeups.WAKEUPS.claim(second, model=Learnuplet, site=None, timeout=10))
    waiting_claims(1)
    wait_for(lambda: second.calls == 1)

    first.release.set()  # ...but A's try returns another task, and A leaves.
    a.join(5)

    assert a_result == {"value": "its own task"}
    wait_for(lambda: second.calls == 2)  # B got the wake-up A did not use
    end((b, second))


def test_a_claim_whose_time_runs_out_as_it_is_woken_hands_the_wake_up_on(no_fallback):
    first, second = Attempts(), Attempts()
    waiter = wakeups.Waiter(Learnuplet.kind, None)
    b, _ = in_thread(lambda: wakeups.WAKEUPS.claim(second, model=Learnuplet, site=None, timeout=10))
    waiting_claims(1)
    # A waiter woken (removed from the line, its event set) that leaves without trying:
    # what a claim at its deadline does.
    first_in_line(waiter)
    assert wakeups.WAKEUPS.wake(Learnuplet.kind, None, 1) == 1 and waiter.woken.is_set()
    assert second.calls == 1

    wakeups.WAKEUPS._leave(waiter)

    wait_for(lambda: second.calls == 2)
    assert first.calls == 0
    end((b, second))


def test_a_wake_up_for_another_site_is_handed_on_only_to_that_site(no_fallback):
    import uuid

    here, there = uuid.uuid4(), uuid.uuid4()
    elsewhere, same_site = Attempts(), Attempts()
    c1, _ = in_thread(lambda: wakeups.WAKEUPS.claim(elsewhere, model=Learnuplet, site=there, timeout=10))
    waiting_claims(1)
    c2, _ = in_thread(lambda: wakeups.WAKEUPS.claim(same_site, model=Learnuplet, site=here, timeout=10))
    waiting_claims(2)
    leaving = wakeups.Waiter(Learnuplet.kind, here)
    first_in_line(leaving)
    assert wakeups.WAKEUPS.wake(Learnuplet.kind, here, 1) == 1 and leaving.woken.is_set()

    wakeups.WAKEUPS._leave(leaving)

    wait_for(lambda: same_site.calls == 2)
    time.sleep(0.2)
    assert elsewhere.calls == 1
    end((c1, elsewhere), (c2, same_site))


def test_a_first_try_made_by_the_caller_is_not_made_again_unless_a_wake_up_came_since(no_fallback):
    quiet, woken = Attempts(), Attempts()
    mark = wakeups.WAKEUPS.mark()
    assert wakeups.WAKEUPS.claim(quiet, model=Learnuplet, site=None, timeout=0.3, tried_since=mark) is None
    assert quiet.calls == 0

    mark = wakeups.WAKEUPS.mark()
    wakeups.WAKEUPS.wake(Learnuplet.kind, None, 1)  # between the caller's try and its enlisting
    assert wakeups.WAKEUPS.claim(woken, model=Learnuplet, site=None, timeout=0.3, tried_since=mark) is None
    assert woken.calls == 1


def test_a_hung_up_client_is_seen_at_once_without_its_thread_looking(no_fallback):
    ours, theirs = socket.socketpair()
    attempts = Attempts()
    thread, result = in_thread(lambda: wakeups.WAKEUPS.claim(attempts, model=Learnuplet, site=None,
                                                             timeout=30, sock=ours))
    waiting_claims(1)
    time.sleep(0.3)
    start = time.monotonic()
    theirs.close()
    thread.join(5)

    assert result == {"value": None} and time.monotonic() - start < 0.5
    assert attempts.calls == 1  # it left without trying again
    assert wakeups.WAKEUPS.waiting() == (0, 0)
    ours.close()


def test_a_client_sending_more_while_it_waits_is_not_taken_for_gone(no_fallback):
    ours, theirs = socket.socketpair()
    attempts = Attempts()
    thread, result = in_thread(lambda: wakeups.WAKEUPS.claim(attempts, model=Learnuplet, site=None,
                                                             timeout=1, sock=ours))
    waiting_claims(1)
    theirs.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request
    time.sleep(0.3)
    assert thread.is_alive()
    thread.join(5)

    assert result == {"value": None} and attempts.calls == 1
    ours.close()
    theirs.close()


def test_a_wake_up_for_tasks_of_another_site_does_not_make_the_callers_try_again(no_fallback):
    import uuid

    ours = Attempts()
    mark = wakeups.WAKEUPS.mark()
    wakeups.WAKEUPS.wake(Learnuplet.kind, uuid.uuid4(), 1)  # another site's task
    wakeups.WAKEUPS.wake("preduplet", None, 1)  # another kind
    site = uuid.uuid4()
    assert wakeups.WAKEUPS.claim(ours, model=Learnuplet, site=site, timeout=0.3, tried_since=mark) is None
    assert ours.calls == 0

    wakeups.WAKEUPS.wake(Learnuplet.kind, site, 1)  # ours, but it came before the claim's mark
    mark = wakeups.WAKEUPS.mark()
    assert wakeups.WAKEUPS.claim(ours, model=Learnuplet, site=site, timeout=0.3, tried_since=mark) is None
    assert ours.calls == 0


def test_a_socket_that_cannot_peek_is_taken_for_open():
    class TLSLike(socket.socket):
        def recv(self, *args, **kwargs):  # ssl.SSLSocket refuses flags this way
            raise ValueError("non-zero flags not allowed in calls to recv() on <class 'ssl.SSLSocket'>")

    ours, theirs = socket.socketpair()
    tls = TLSLike(fileno=ours.detach())
    assert wakeups.closed(tls) is False
    tls.close()
    theirs.close()
