"""Dispatch: how soon a released task reaches an idle worker, and what idle workers cost.

One run, against gunicorn with the README's settings (gunicorn.conf.py, production
environment), every client an asyncio connection of this process (one keep-alive
connection per worker, as a worker holds):

(a) Dispatch latency. `--chains` chain(s) of learnuplets (platform tasks, `--releases` in
    all after each chain's rank 0; one chain: every release finds the others idle) run as a relay among `--workers` idle workers: the
    worker that claims a rank reports it done at once, and is then busy until another
    worker has claimed the rank its result released, so that every next rank goes to
    another, idle worker. Measured: the time from the result's answer (at the reporter)
    to the next rank's claim answer (at the other worker). Waiting workers claim with
    `?wait=60` and an Idempotency-Key, as the reference worker does; then again with
    `--loaded-chains` chains at once (a server at capacity); the baseline, in
    the same run, polls as the worker did before issue 17 (no wait, an exponential
    back-off from 0.2 s up to 10 s with jitter, reset after a task: compute.worker.Backoff),
    after idling long enough to reach its cap.
(b) Idle cost. `--idle-workers` workers wait (keyed, `?wait=60` less up to 10% of jitter,
    as the reference worker waits) for `--idle-seconds`, nothing claimable for them; twice:
    waiting claims alone, then as the reference worker idles (its learnuplet claims
    interrupted by preduplets, `&interrupt=preduplet`, each costing one more query). Measured: their requests per worker per minute, the
    server's CPU (master and workers, as a share of one core) and memory (RSS and PSS
    of its processes, threads), the database sessions of the benchmark database, and,
    meanwhile, the latency of a data registration (a client) and of a claim and its
    result (a compute worker of another site, whose tasks the waiters may not take),
    four of each per second. The same probe first runs without waiters: the difference
    is the waiters' cost.
(c) Two instances. Two gunicorn servers on the same database; the `--workers` relay
    workers are split between them, each reporting its results through the other
    instance: the release committed through one is answered to a worker waiting on
    either (the same-instance ones shown apart).

    .venv/bin/python bench/dispatch.py [--workers 50 --releases 1000 --chains 1 --loaded-chains 10
                                        --idle-workers 1000 --idle-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness

from compute.worker import Backoff

CLAIM = f"{harness.API}/learnuplets/claim/"
RESULT = f"{harness.API}/learnuplets/{{}}/result/"
WAIT = 60  # seconds, as the reference worker waits (COMPUTE_WAIT)
PRED_CLAIM = f"{harness.API}/preduplets/claim/"
POLL_CAP = 10.0  # the reference worker's back-off cap before issue 17 (--idle-max)


# --- an asyncio HTTP/1.1 client: one keep-alive connection --------------------------


class Conn:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None, *, key: str | None = None
                      ) -> tuple[int, Any, float]:
        """Status, decoded body, and perf_counter() when the answer was read whole."""
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {self.token}\r\n"
                f"Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                + (f"Idempotency-Key: {key}\r\n" if key else "") + "\r\n")
        for tries in range(3):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert self.reader is not None
                self.writer.write(head.encode() + data)
                await self.writer.drain()
                return await self._answer()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.close()
                if tries == 2:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def _answer(self) -> tuple[int, Any, float]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        raw = b""
        if chunked:
            while size := int((await self.reader.readline()).strip() or b"0", 16):
                raw += await self.reader.readexactly(size + 2)
            await self.reader.readline()
        elif length:
            raw = await self.reader.readexactly(length)
        at = time.perf_counter()
        if close:
            self.close()
        return status, json.loads(raw) if raw.strip() else None, at

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# --- (a) and (c): the relay ---------------------------------------------------------------


@dataclass
class Relay:
    ranks: int  # per chain
    claimed: dict[tuple[str, int], tuple[float, int]] = field(default_factory=dict)  # at, worker
    reported: dict[tuple[str, int], tuple[float, int, float]] = field(default_factory=dict)  # at, server, sent
    claimed_on: dict[tuple[str, int], int] = field(default_factory=dict)  # server
    events: dict[tuple[str, int], asyncio.Event] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def event(self, chain: str, rank: int) -> asyncio.Event:
        return self.events.setdefault((chain, rank), asyncio.Event())

    def latencies(self, *, cross: bool | None = None, from_sent: bool = False) -> list[float]:
        """Result answer (`from_sent`: the result's request sent) to the next rank's claim
        answer, by release. From the answer it may be negative: the release commits before
        the result's answer is written, and the other worker may read its claim's first."""
        out = []
        for (chain, rank), (claimed_at, _) in self.claimed.items():
            if rank == 0 or (chain, rank - 1) not in self.reported:
                continue
            reported_at, server, sent = self.reported[(chain, rank - 1)]
            if from_sent:
                reported_at = sent
            if cross is not None and (server != self.claimed_on[(chain, rank)]) != cross:
                continue
            out.append(claimed_at - reported_at)
        return out


async def relay_worker(n: int, claim_conn: Conn, claim_server: int, result_conn: Conn, result_server: int,
                       relay: Relay, *, waiting: bool) -> None:
    idle = Backoff(0.2, POLL_CAP)
    while not relay.done.is_set():
        path = f"{CLAIM}?wait={WAIT}" if waiting else CLAIM
        relay.requests["claim"] += 1
        try:
            status, body, at = await claim_conn.request("POST", path, {}, key=str(uuid.uuid4()) if waiting else None)
        except OSError as error:
            relay.errors[f"claim {type(error).__name__}"] += 1
            await asyncio.sleep(0.5)
            continue
        if status == 204:
            if not waiting:
                await asyncio.sleep(idle.next())
            continue
        if status != 200:
            relay.errors[f"claim {status}"] += 1
            await asyncio.sleep(0.5)
            continue
        idle.reset()
        chain, rank = body["algo"], body["rank"]
        relay.claimed[(chain, rank)] = (at, n)
        relay.claimed_on[(chain, rank)] = claim_server
        relay.event(chain, rank).set()
        result = {"attempt": body["attempt"], "status": "done", "perf": 0.5, "train_perf": {}, "test_perf": {}}
        relay.requests["result"] += 1
        sent = time.perf_counter()
        status, _, at = await result_conn.request("POST", RESULT.format(body["uuid"]), result,
                                                  key=str(uuid.uuid4()))
        if status != 200:
            relay.errors[f"result {status}"] += 1
        relay.reported[(chain, rank)] = (at, result_server, sent)
        if len(relay.claimed) >= relay.expected:
            relay.done.set()
        if rank + 1 < relay.ranks:
            # Busy until another worker has the rank this result released.
            try:
                await asyncio.wait_for(relay.event(chain, rank + 1).wait(), 60)
            except TimeoutError:
                relay.errors["next rank not claimed within 60 s"] += 1


def register_chains(problem: uuid.UUID, count: int, label: str) -> None:
    """`count` algos: each a chain whose rank 0 becomes claimable at its commit."""
    from django.db import connection

    from problems.services import algo_register

    try:
        for i in range(count):
            algo_register(problem=problem, name=f"{label}-{i}")
    finally:
        connection.close()


def chain_problem(ranks: int) -> uuid.UUID:
    """A problem of `ranks` platform data, one per batch, and no algo yet."""
    from problems.services import data_register, problem_create

    problem = problem_create(workflow=uuid.uuid4(), test_dataset=[uuid.uuid4()], size_train_dataset=1)
    data_register(uuids=[uuid.uuid4() for _ in range(ranks)], problems=[problem.pk])
    return problem.pk


async def run_relay(servers: list[int], tokens: list[str], *, chains: int, releases: int, waiting: bool,
                    settle: float, label: str) -> tuple[Relay, float]:
    """`len(tokens)` workers, split round-robin over `servers`, each reporting through the
    next server; the chains registered once they idle. Returns the relay and its seconds."""
    ranks = releases // chains + 1
    problem = await asyncio.to_thread(chain_problem, ranks)
    relay = Relay(ranks=ranks, expected=chains * ranks)
    conns = []
    workers = []
    for n, token in enumerate(tokens):
        home, other = servers[n % len(servers)], servers[(n + 1) % len(servers)]
        claim_conn = Conn(home, token)
        result_conn = claim_conn if other == home else Conn(other, token)
        conns += [claim_conn, result_conn]
        workers.append(asyncio.create_task(
            relay_worker(n, claim_conn, home, result_conn, other, relay, waiting=waiting)))
    await asyncio.sleep(settle)  # the waiters wait; the pollers reach their back-off cap
    began = time.perf_counter()
    registering = asyncio.create_task(asyncio.to_thread(register_chains, problem, chains, label))
    try:
        await asyncio.wait_for(relay.done.wait(), max(120.0, releases * (2.0 if waiting else 12.0) / chains))
    except TimeoutError:
        relay.errors["relay did not finish"] += 1
    seconds = time.perf_counter() - began
    await registering
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    for conn in conns:
        conn.close()
    return relay, seconds


def latency_line(values: list[float]) -> str:
    if not values:
        return "no releases"
    return (f"p50 {harness.ms(harness.percentile(values, 50))}, p99 {harness.ms(harness.percentile(values, 99))}, "
            f"max {harness.ms(max(values))} (min {harness.ms(min(values))}) over {len(values)} releases")


# --- (b): idle cost -----------------------------------------------------------------------


@dataclass
class Probe:
    registration: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    result: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


async def probe_loop(port: int, uploader: str, worker: str, problem: str, stop: asyncio.Event, probe: Probe,
                     per_second: float = 4) -> None:
    """A registration, and a claim with its result, `per_second` times a second."""
    up, work = Conn(port, uploader), Conn(port, worker)
    while not stop.is_set():
        tick = time.perf_counter()
        t0 = time.perf_counter()
        status, _, at = await up.request("POST", f"{harness.API}/data/", {"uuid": [str(uuid.uuid4())],
                                                                        "problems": [problem]})
        probe.registration.append(at - t0)
        if status != 201:
            probe.errors[f"registration {status}"] += 1
        t0 = time.perf_counter()
        status, body, at = await work.request("POST", CLAIM, {})
        probe.claim.append(at - t0)
        if status == 200:
            result = {"attempt": body["attempt"], "status": "done", "perf": 0.5, "train_perf": {}, "test_perf": {}}
            t0 = time.perf_counter()
            status, _, at = await work.request("POST", RESULT.format(body["uuid"]), result)
            probe.result.append(at - t0)
            if status != 200:
                probe.errors[f"result {status}"] += 1
        else:
            probe.errors[f"claim {status}"] += 1
        await asyncio.sleep(max(0.0, 1 / per_second - (time.perf_counter() - tick)))
    up.close()
    work.close()


def probe_setup(tasks: int) -> tuple[str, str, str]:
    """An uploader and a compute worker of a site of their own, `tasks` claimable
    learnuplets of that site (the idle waiters, of no site, cannot take them), and a
    problem without algos to register data to. Returns the two tokens and that problem."""
    from accounts.services import client_create
    from problems.services import algo_register, data_register, problem_create

    _, uploader = client_create(name="probe-uploader", role="client", site="bench-probe")
    probe_worker, worker_token = client_create(name="probe-worker", role="compute", site="bench-probe")
    tasks_problem = problem_create(workflow=uuid.uuid4(), test_dataset=[uuid.uuid4()], size_train_dataset=1)
    data_register(uuids=[uuid.uuid4()], problems=[tasks_problem.pk], site=probe_worker.site_id)
    for i in range(tasks):
        algo_register(problem=tasks_problem.pk, name=f"probe-{i}")
    plain = problem_create(workflow=uuid.uuid4(), test_dataset=[uuid.uuid4()], size_train_dataset=1)
    return uploader, worker_token, str(plain.pk)


@dataclass
class Sample:
    rss_kb: int = 0
    pss_kb: int = 0
    threads: int = 0
    sessions: int = 0


def server_pids(server: harness.Server) -> list[int]:
    assert server.process is not None
    master = server.process.pid
    try:
        with open(f"/proc/{master}/task/{master}/children") as children:
            return [master, *map(int, children.read().split())]
    except OSError:
        return [master]


def sample(server: harness.Server, url: str) -> Sample:
    import psycopg

    out = Sample()
    for pid in server_pids(server):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.rss_kb += int(line.split()[1])
                elif line.startswith("Threads:"):
                    out.threads += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    out.pss_kb += int(line.split()[1])
        except OSError:
            pass
    with psycopg.connect(url, autocommit=True) as conn:
        [(out.sessions,)] = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return out


@dataclass
class Window:
    seconds: float
    server_cpu: float
    database_cpu: float
    requests: int
    probe: Probe
    samples: list[Sample]


async def measure_window(server: harness.Server, url: str, seconds: float, probe_args: tuple[str, str, str],
                         counted: Callable[[], int]) -> Window:
    stop = asyncio.Event()
    probe = Probe()
    samples: list[Sample] = []
    cpu0, db0, requests0 = server.cpu_seconds(), harness.database_cpu_seconds(url), counted()
    began = time.perf_counter()
    prober = asyncio.create_task(probe_loop(server.port, *probe_args, stop, probe))
    while time.perf_counter() - began < seconds:
        samples.append(await asyncio.to_thread(sample, server, url))
        await asyncio.sleep(min(1.0, max(0.0, seconds - (time.perf_counter() - began))))
    stop.set()
    await prober
    elapsed = time.perf_counter() - began
    return Window(elapsed, server.cpu_seconds() - cpu0, harness.database_cpu_seconds(url) - db0,
                  counted() - requests0, probe, samples)


async def idle_waiter(conn: Conn, counter: Counter[str], stop: asyncio.Event, *, rounds: bool,
                      herd: bool) -> None:
    """A waiting claim after another, keyed, `?wait=60` less up to 10% of jitter; `rounds`:
    as the reference worker idles, with `&interrupt=preduplet` and a preduplet claim after a
    claim answered before its time. Unless `herd`, the first wait is a random part of the
    whole, as in a fleet that has run for a while (its workers' waits end at any time); a
    herd started at once ends them together, less the jitter."""
    first = not herd
    while not stop.is_set():
        share = random.uniform(0.02, 1.0) if first else random.uniform(0.9, 1.0)
        first = False
        wait = round(WAIT * share, 1)
        path = f"{CLAIM}?wait={wait}" + ("&interrupt=preduplet" if rounds else "")
        counter["claims"] += 1
        counter["waiting"] += 1
        asked = time.perf_counter()
        try:
            status, _, _ = await conn.request("POST", path, {}, key=str(uuid.uuid4()))
            if rounds and status == 204 and time.perf_counter() - asked < wait - min(1.0, wait / 5):
                counter["claims"] += 1
                counter["at once"] += 1
                status, _, _ = await conn.request("POST", PRED_CLAIM, {}, key=str(uuid.uuid4()))
        except OSError as error:
            counter[f"error {type(error).__name__}"] += 1
            await asyncio.sleep(1)
            continue
        if status != 204:
            counter[f"status {status}"] += 1
            await asyncio.sleep(1)


async def idle_cost(server: harness.Server, url: str, tokens: list[str], count: int, seconds: float,
                    probe_args: tuple[str, str, str], *, rounds: bool, quiet: bool = True, herd: bool = False,
                    ) -> tuple[Window | None, Window, Counter[str], float]:
    counter: Counter[str] = Counter()
    alone = (await measure_window(server, url, max(2.0, seconds / 3), probe_args, lambda: counter["claims"])
             if quiet else None)
    stop = asyncio.Event()
    conns = [Conn(server.port, tokens[i % len(tokens)]) for i in range(count)]
    ramp = time.perf_counter()
    waiters = []
    for conn in conns:  # connect them at about 500 a second, as a fleet would not all at once
        waiters.append(asyncio.create_task(idle_waiter(conn, counter, stop, rounds=rounds, herd=herd)))
        await asyncio.sleep(0.002)
    while counter["waiting"] < count:
        await asyncio.sleep(0.1)
    ramp = time.perf_counter() - ramp
    await asyncio.sleep(2)  # every first claim waiting
    window = await measure_window(server, url, seconds, probe_args, lambda: counter["claims"])
    stop.set()
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    for conn in conns:
        conn.close()
    return alone, window, counter, ramp


def window_lines(label: str, window: Window, workers: int) -> list[str]:
    cores = window.server_cpu / window.seconds
    peak = max(window.samples, key=lambda s: s.rss_kb, default=Sample())
    sessions = max((s.sessions for s in window.samples), default=0)
    probe = window.probe
    lines = [
        f"{label}: {window.seconds:.0f} s; server CPU {cores:.1%} of a core; PostgreSQL backends' CPU "
        f"{window.database_cpu / window.seconds:.1%} of a core; server RSS {peak.rss_kb / 1024:.0f} MiB "
        f"(PSS {peak.pss_kb / 1024:.0f} MiB), {peak.threads} threads; database sessions at most {sessions}",
        f"  meanwhile: registration {latency_line(probe.registration).replace('releases', 'requests')}",
        f"  meanwhile: claim {latency_line(probe.claim).replace('releases', 'requests')}",
        f"  meanwhile: result {latency_line(probe.result).replace('releases', 'requests')}",
    ]
    if probe.errors:
        lines.append(f"  probe errors: {dict(probe.errors)}")
    if workers:
        lines.append(f"  idle workers' requests: {window.requests / workers / (window.seconds / 60):.2f} "
                     f"per worker per minute ({window.requests} in all)")
    return lines


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = harness.arguments(__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=50, help="relay workers in (a) and (c)")
    parser.add_argument("--releases", type=int, default=1000, help="releases measured in (a) and (c)")
    parser.add_argument("--chains", type=int, default=1,
                        help="chains run at once in the relays (1: each release reaches idle workers)")
    parser.add_argument("--loaded-chains", type=int, default=10,
                        help="then the waiting relay again with this many chains at once, a server "
                             "at capacity (0: not run)")
    parser.add_argument("--idle-workers", type=int, default=1000, help="waiting workers in (b)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--herd", action="store_true",
                        help="(b)'s idle workers all start their first wait at once (default: a fleet "
                             "that has run a while, each first wait a random part of the whole)")
    parser.add_argument("--tokens", type=int, default=100, help="compute clients the idle workers share")
    parser.add_argument("--server-workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: polling, idle, two")
    args = parser.parse_args()
    if args.quick:
        args.workers, args.releases, args.chains, args.idle_workers, args.idle_seconds, args.tokens = (
            6, 20, 1, 30, 3.0, 6)
        args.loaded_chains = 0
    with harness.fresh_database("dispatch", embedded=args.embedded, keep=args.keep) as url:
        from accounts.services import client_create
        from django.db import connection

        started = time.perf_counter()
        tokens = [client_create(name=f"bench-worker-{i}", role="compute")[1]
                  for i in range(max(args.workers, args.tokens))]
        probe_args = probe_setup(100 if args.quick else int(args.idle_seconds * 12) + 100)
        connection.close()  # the asyncio part reaches Django only from threads of its own
        asyncio.run(run(args, url, tokens, probe_args, time.perf_counter() - started))


async def run(args: argparse.Namespace, url: str, tokens: list[str], probe_args: tuple[str, str, str],
              setup_seconds: float) -> None:
    skip = set(filter(None, args.skip.split(",")))
    server = harness.Server(url, workers=args.server_workers, threads=args.threads)
    lines = [f"dispatch: server {server.description}; set-up {setup_seconds:.0f} s"]
    settle_poll = 2.0 if args.quick else 15.0
    with server:
        relay, seconds = await run_relay([server.port], tokens[: args.workers], chains=args.chains,
                                         releases=args.releases, waiting=True, settle=1.0, label="wait")
        waited = relay.latencies()
        lines.append(f"(a) waiting ({args.workers} workers, ?wait={WAIT}, keyed): result to next claim "
                     f"{latency_line(waited)}; from the result sent {latency_line(relay.latencies(from_sent=True))}; "
                     f"{seconds:.1f} s; requests {dict(relay.requests)}; errors {dict(relay.errors) or 0}")
        if args.loaded_chains:
            loaded, seconds = await run_relay([server.port], tokens[: args.workers], chains=args.loaded_chains,
                                              releases=args.releases, waiting=True, settle=1.0, label="loaded")
            lines.append(f"(a) the same, {args.loaded_chains} chains at once (the server at capacity): result to "
                         f"next claim {latency_line(loaded.latencies())}; {seconds:.1f} s; "
                         f"errors {dict(loaded.errors) or 0}")
        polled: list[float] = []
        if "polling" not in skip:
            relay, seconds = await run_relay([server.port], tokens[: args.workers], chains=args.chains,
                                             releases=args.releases, waiting=False, settle=settle_poll,
                                             label="poll")
            polled = relay.latencies()
            minutes = (seconds + settle_poll) / 60
            lines.append(f"(a) baseline polling ({args.workers} workers, back-off 0.2 s to {POLL_CAP:.0f} s): "
                         f"result to next claim {latency_line(polled)}; from the result sent "
                         f"{latency_line(relay.latencies(from_sent=True))}; {seconds:.1f} s; "
                         f"{relay.requests['claim'] / args.workers / minutes:.1f} claims per worker per minute; "
                         f"errors {dict(relay.errors) or 0}")
        windows = {}
        alone_cpu = 0.0
        if "idle" not in skip:
            for rounds in (False, True):
                alone, window, counter, ramp = await idle_cost(
                    server, url, tokens[: args.tokens], args.idle_workers, args.idle_seconds, probe_args,
                    rounds=rounds, quiet=not rounds, herd=args.herd)
                windows[rounds] = window
                if alone is not None:
                    lines += window_lines("(b) no waiting worker", alone, 0)
                    alone_cpu = alone.server_cpu / alone.seconds
                what = (f"as the reference worker idles: a learnuplet claim waiting (?wait={WAIT} less up to "
                        "10% jitter) with &interrupt=preduplet, a preduplet claim after an early answer" if rounds else
                        f"waiting claims alone (?wait={WAIT} less up to 10% jitter)")
                what = ("a herd started at once, " if args.herd else "first waits spread, ") + what
                lines += window_lines(f"(b) {args.idle_workers} idle workers, {what}, keyed, {args.tokens} "
                                      f"tokens; all waiting {ramp:.1f} s after the first", window, args.idle_workers)
                lines.append(f"  the idle workers' own server CPU (less the probe alone's): "
                             f"{window.server_cpu / window.seconds - alone_cpu:.1%} of a core")
                bad = {k: v for k, v in counter.items() if k not in ("claims", "waiting", "at once")}
                lines.append(f"  idle workers' errors: {bad or 0}")
        if "two" not in skip:
            # Two instances' pools (3 processes x 16 each) would take all 100 connections of
            # this machine's PostgreSQL: 8 each here, which the relay's 50 workers never exhaust.
            os.environ["DJANGO_DB_POOL_SIZE"] = "8"
            with harness.Server(url, workers=args.server_workers, threads=args.threads) as other:
                relay, seconds = await run_relay([server.port, other.port], tokens[: args.workers],
                                                 chains=args.chains, releases=args.releases, waiting=True,
                                                 settle=1.0, label="two")
    if "two" not in skip:
        cross, same = relay.latencies(cross=True), relay.latencies(cross=False)
        lines.append(f"(c) two instances, {args.workers} workers split, results through the other: "
                     f"released on one, claimed on the other {latency_line(cross)} (from the result sent "
                     f"{latency_line(relay.latencies(cross=True, from_sent=True))}); on the same "
                     f"{latency_line(same)}; errors {dict(relay.errors) or 0}")
    print(harness.machine(url))
    for line in lines:
        print(line)
    print("claims at the first server, by path: requests; the request thread's CPU p50 / p90 (waiting included: "
          "a waiting thread uses none); SQL statements p50 / max")
    for path, stats in sorted(server.requests.items()):  # waits read `wait=S` (gunicorn_hooks)
        if "claim" in path and stats["cpu"]:
            cpu, queries = sorted(stats["cpu"]), sorted(stats["queries"])
            print(f"  {path}: {len(cpu)}; {harness.ms(cpu[len(cpu) // 2])} / {harness.ms(cpu[len(cpu) * 9 // 10])}; "
                  f"{queries[len(queries) // 2]} / {queries[-1]}")
    targets = [f"(a) p99 < 50 ms ({'met' if waited and harness.percentile(waited, 99) < 0.050 else 'MISSED'})"]
    for rounds, window in windows.items():
        label = "(b, reference worker)" if rounds else "(b, waiting claims)"
        per_minute = window.requests / args.idle_workers / (window.seconds / 60)
        own_cpu = window.server_cpu / window.seconds - alone_cpu
        p99 = max(harness.percentile(window.probe.registration, 99), harness.percentile(window.probe.claim, 99))
        targets += [f"{label} <= 2 requests per worker per minute ({'met' if per_minute <= 2.05 else 'MISSED'})",
                    f"server CPU < 5% of a core ({'met' if own_cpu < 0.05 else 'MISSED'})",
                    f"registration and claim p99 < 100 ms ({'met' if p99 < 0.100 else 'MISSED'})"]
    if "two" not in skip:
        targets.append(f"(c) p99 < 100 ms ({'met' if cross and harness.percentile(cross, 99) < 0.100 else 'MISSED'})")
    print("targets: " + ", ".join(targets))
    if polled and waited:
        print(f"ratio to baseline: p99 {harness.ms(harness.percentile(waited, 99))} waiting / "
              f"{harness.ms(harness.percentile(polled, 99))} polling = "
              f"{harness.percentile(waited, 99) / harness.percentile(polled, 99):.3f}")


if __name__ == "__main__":
    main()
