"""What the client's tests share: a TCP proxy that breaks chosen connections, a transport
that records each try, and a compute worker that works a queue through the API."""

import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from compute.api import LEARNUPLET, Orchestrator, new_key

DROP = "drop"  # forward the request, read the server's whole answer, close without passing it on
UNAVAILABLE = "503"  # answer 503 with Retry-After: 0 and never reach the server


def read_message(conn: socket.socket) -> bytes:
    """One HTTP/1.1 message (a request, or an answer with Content-Length) off a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@dataclass
class FaultProxy:
    """A TCP proxy in front of `target` (a live server's URL): its first connections meet
    the `faults` in order (DROP, UNAVAILABLE), later ones pass through untouched.
    `dropped` holds the status line of each answer the server gave but the client never got."""

    target: str
    faults: list[str] = field(default_factory=list)
    dropped: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        split = urlsplit(self.target)
        self.upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            fault = self.faults.pop(0) if self.faults else None
            threading.Thread(target=self._serve, args=(conn, fault), daemon=True).start()

    def _serve(self, conn: socket.socket, fault: str | None) -> None:
        with conn:
            if fault == UNAVAILABLE:
                read_message(conn)
                body = b'{"detail": "Service unavailable (the proxy says)."}'
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                             b"Retry-After: 0\r\nConnection: close\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                return
            with socket.create_connection(self.upstream, timeout=60) as server:
                if fault == DROP:
                    server.sendall(read_message(conn))
                    # The whole answer, so the request's effect has committed, then hang up on the client.
                    self.dropped.append(read_message(server).split(b"\r\n", 1)[0])
                    return
                self._pipe(conn, server)

    @staticmethod
    def _pipe(client: socket.socket, server: socket.socket) -> None:
        def copy(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=copy, args=(server, client), daemon=True)
        back.start()
        copy(client, server)
        back.join(60)


@dataclass
class Try:
    method: str
    path: str
    key: str | None
    status: int | None  # None: no answer (the exception's name in `error`)
    replayed: bool = False
    error: str = ""


class Recording(httpx.HTTPTransport):
    """httpx's own transport, noting each try: its Idempotency-Key and what came back."""

    def __init__(self) -> None:
        super().__init__()
        self.tries: list[Try] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        seen = Try(request.method, request.url.path, request.headers.get("Idempotency-Key"), None)
        self.tries.append(seen)
        try:
            response = super().handle_request(request)
        except httpx.TransportError as exc:
            seen.error = type(exc).__name__
            raise
        seen.status = response.status_code
        seen.replayed = response.headers.get("Idempotent-Replayed") == "true"
        return response


def result_for(kind: str, task: dict[str, Any], perf: float) -> dict[str, Any]:
    if kind == LEARNUPLET:
        return {"attempt": task["attempt"], "status": "done", "perf": perf,
                "train_perf": {d: perf for d in task["train_data"]}, "test_perf": {t: perf for t in task["test_data"]}}
    return {"attempt": task["attempt"], "status": "done", "prediction_storage_uuid": [str(uuid.uuid4())]}


def work(url: str, token: str, *, tasks: int, kind: str = LEARNUPLET, seconds: float = 0.0,
         perf: Callable[[int], float] = lambda n: 0.5 + n / 100, timeout: float = 60) -> list[str]:
    """Claim (waiting for them) and finish `tasks` tasks of `kind`, each taking `seconds`,
    as a compute worker does; the tasks' UUIDs."""
    orchestrator = Orchestrator(url, token)
    finished: list[str] = []
    deadline = time.monotonic() + timeout
    while len(finished) < tasks:
        assert time.monotonic() < deadline, f"{len(finished)} of {tasks} {kind}s finished"
        claim = orchestrator.claim(kind, key=new_key(), wait=5)
        if claim is None:
            continue
        time.sleep(seconds)
        orchestrator.report(kind, claim.body["uuid"], result_for(kind, claim.body, perf(len(finished))), key=new_key())
        finished.append(claim.body["uuid"])
    return finished


def uuids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def new_problem(client: Any, *, size: int = 1) -> str:
    """A problem registered through the client; its UUID."""
    problem: str = client.problems.create(workflow=str(uuid.uuid4()), test_dataset=uuids(2),
                                          size_train_dataset=size)["uuid"]
    return problem
