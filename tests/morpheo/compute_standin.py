"""A stand-in for the 2017 Compute API (MorpheoOrg/morpheo-compute, api/main.go): a real
HTTP server on a free local port. `POST /learn` and `POST /pred` decode the body as its Go
structs would (tests/morpheo/go_structs.py) and answer 202, or 400 with `{"error"}` as it
did; every request is recorded. Tests make it refuse tasks, fail (5xx), answer slowly,
stop (connection refused) and start again on the same port, and hand the tasks it accepts
to a callback (a 2017 worker, for the round trip).
"""

import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.live import free_port
from tests.morpheo.go_structs import GoDecodeError, decode_learnuplet, decode_preduplet

DECODERS = {"/learn": decode_learnuplet, "/pred": decode_preduplet}


@dataclass(frozen=True)
class Received:
    route: str  # "/learn" or "/pred"
    body: bytes
    task: dict[str, Any] | None  # as the Go struct decoded it; None when it did not
    error: str
    status: int  # what the stand-in answered
    at: float  # time.monotonic()


class StandInCompute:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[Received] = []
        self.lock = threading.Lock()
        # Knobs: answer this status to everything; refuse these tasks (400); wait before answering.
        self.status: int | None = None
        self.refused: set[uuid.UUID] = set()
        self.delay = 0.0
        self.arrived = 0  # POSTs received so far, answered or still being delayed
        self.on_task: Callable[[str, dict[str, Any]], None] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()

    # -- what arrived ------------------------------------------------------------------------

    def accepted(self, route: str | None = None) -> list[uuid.UUID]:
        """The tasks answered 202, in arrival order (repeats included)."""
        with self.lock:
            return [r.task["uuid"] for r in self.received
                    if r.status == 202 and r.task is not None and route in (None, r.route)]

    def counts(self) -> Counter[uuid.UUID]:
        return Counter(self.accepted())

    def errors(self) -> list[str]:
        """Bodies the Go structs would not decode: none is expected, ever."""
        with self.lock:
            return [r.error for r in self.received if r.error]

    # -- the server --------------------------------------------------------------------------

    def start(self) -> "StandInCompute":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Go's server

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # As Go's server: headers and body are two writes, which Nagle would delay.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with standin.lock:
                    standin._open.add(self.connection)

            def finish(self) -> None:
                with standin.lock:
                    standin._open.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._answer(200, {"status": "ok"})
                else:
                    self._answer(200, ["/", "/health", "/learn", "/pred"])

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with standin.lock:
                    standin.arrived += 1
                if standin.delay:
                    time.sleep(standin.delay)
                decode = DECODERS.get(self.path)
                if decode is None:
                    self._answer(404, {"error": "not found"})
                    return
                task: dict[str, Any] | None = None
                error = ""
                try:
                    task = decode(body)
                except GoDecodeError as exc:
                    error = str(exc)
                status = standin.status or (400 if error else 202)
                if task is not None and task["uuid"] in standin.refused:
                    status = 400
                with standin.lock:
                    standin.received.append(Received(self.path, body, task, error, status, time.monotonic()))
                if status == 202:
                    self._answer(202, {"message": "Learn-uplet ingested accordingly" if self.path == "/learn"
                                       else "Pred-uplet ingested"})
                    if standin.on_task is not None and task is not None:
                        standin.on_task(self.path, task)
                else:
                    self._answer(status, {"error": error or f"answered {status}"})

            def _answer(self, status: int, document: Any) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        """Down: connections are refused until `start()` again (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Kept-alive connections too: a Compute that is down answers nothing on them either.
        with self.lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "StandInCompute":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
