"""Claims: concurrent workers claim a learnuplet then report it done, until the queue is empty.

`--tasks` todo learnuplets (spread over `--algos` chains, so that results of different
workers rarely release the same chain); `--workers` processes, each a compute client
with its own token and one keep-alive connection, loop `POST learnuplets/claim/` then
`POST learnuplets/{uuid}/result/` (done) against gunicorn with production settings
until the claim answers 204. Baseline in the same run, on the same freshly seeded table:
the same claim (UPDATE ... WHERE uuid = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)) and
completion as raw SQL from `--workers` psycopg connections, one per process.

`--sites N` (issue 15): the workers are members of N sites (round-robin, created through
`client_create(site=...)`), and each task belongs to the site of one worker, in turn, so
every worker has as many tasks of its own site as the others. Afterwards the database is
checked for claims across sites: no task of a site may end with, or have a claim event
naming, a worker of another site. The raw SQL baseline claims by site as tasks.queue does
(the claim index leads with coalesce(site_id, nil)).

    .venv/bin/python bench/claims.py [--tasks 20000 --workers 16 --server-workers 2 --threads 8] [--sites 10]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import harness

CLAIM = f"{harness.API}/learnuplets/claim/"
RESULT = f"{harness.API}/learnuplets/{{}}/result/"

# The claim and completion tasks/queue.py performs, without its events and chain release:
# what PostgreSQL itself can do. {site} and {order} follow the schema benchmarked (see
# sql_claim), so that the baseline scans the claim index as the real claim does.
SQL_CLAIM = """
UPDATE learning_learnuplet
SET status = 'pending', worker = %(worker)s, attempt = attempt + 1, claimed_at = now(),
    heartbeat_at = now(), lease_expires_at = now() + interval '120 seconds'
WHERE uuid = (
    SELECT uuid FROM learning_learnuplet WHERE status = 'todo'{site}
    ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING uuid, attempt
"""
NIL = "00000000-0000-0000-0000-000000000000"  # tasks.models.PLATFORM: the claim index's key of no site
SQL_DONE = """
UPDATE learning_learnuplet
SET status = 'done', perf = 0.5, train_perf = '{}', test_perf = '{}', training_done = now(),
    lease_expires_at = NULL, last_error = ''
WHERE uuid = %(uuid)s AND status = 'pending' AND worker = %(worker)s AND attempt = %(attempt)s
"""


@dataclass
class WorkerRun:
    worker: str
    # (task, attempt, claim seconds, result seconds, result accepted)
    cycles: list[tuple[str, int, float, float, bool]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    finished_at: float = 0.0
    cpu_seconds: float = 0.0


def http_worker(port: int, token: str, worker: str, start: Any, out: Any) -> None:
    run = WorkerRun(worker)
    http = harness.Http(port, token)
    start.wait()
    cpu = time.process_time()
    while sum(run.errors.values()) < 50:
        t0 = time.perf_counter()
        try:
            status, body = http.post(CLAIM)
        except OSError as error:  # a dropped connection: http.client reconnects next time
            run.errors[f"claim {type(error).__name__}"] += 1
            http.conn.close()
            continue
        t1 = time.perf_counter()
        if status == 204:
            break
        if status != 200:
            run.errors[f"claim {status}"] += 1
            continue
        task, attempt = body["uuid"], body["attempt"]
        result = {"attempt": attempt, "status": "done", "perf": 0.5, "train_perf": {}, "test_perf": {}}
        try:
            status, _ = http.post(RESULT.format(task), result)
        except OSError as error:
            run.errors[f"result {type(error).__name__}"] += 1
            http.conn.close()
            status = 0
        if status not in (0, 200):
            run.errors[f"result {status}"] += 1
        run.cycles.append((task, attempt, t1 - t0, time.perf_counter() - t1, status == 200))
    run.finished_at = time.perf_counter()
    run.cpu_seconds = time.process_time() - cpu
    out.put(run)


def floor_worker(port: int, requests: int, start: Any, out: Any) -> None:
    """The server stack alone: GET /healthz (no DRF, no auth, one query), `requests` times."""
    run = WorkerRun("floor")
    http = harness.Http(port)
    start.wait()
    for _ in range(requests):
        t0 = time.perf_counter()
        status, _ = http.get("/healthz")
        run.cycles.append(("healthz", 0, time.perf_counter() - t0, 0.0, status == 200))
    run.finished_at = time.perf_counter()
    out.put(run)


def sql_claim(columns: set[str]) -> str:
    """The baseline's claim for the schema benchmarked: before sites (36ab635) the claim
    index is (queued_at, uuid) WHERE todo; since, it leads with coalesce(site_id, nil), and
    a later schema also orders by priority."""
    # The index's own expression, NIL written in: coalesce(site_id, <parameter>) is another
    # expression, which the claim index cannot serve (every claim then sorted the site's tasks).
    site = f" AND coalesce(site_id, '{NIL}'::uuid) = %(site)s::uuid" if "site_id" in columns else ""
    order = "priority DESC, queued_at, uuid" if "priority" in columns else "queued_at, uuid"
    return SQL_CLAIM.format(site=site, order=order)


def sql_worker(dsn: str, worker: str, claim_sql: str, site: str, start: Any, out: Any) -> None:
    import psycopg

    run = WorkerRun(worker)
    with psycopg.connect(dsn, autocommit=True) as conn:
        start.wait()
        cpu = time.process_time()
        while True:
            t0 = time.perf_counter()
            # A worker's own site only: every task of the run belongs to some worker's site.
            row = conn.execute(claim_sql, {"worker": worker, "site": site}).fetchone()
            t1 = time.perf_counter()
            if row is None:
                break
            task, attempt = row
            done = conn.execute(SQL_DONE, {"uuid": task, "worker": worker, "attempt": attempt}).rowcount
            run.cycles.append((str(task), attempt, t1 - t0, time.perf_counter() - t1, done == 1))
    run.finished_at = time.perf_counter()
    run.cpu_seconds = time.process_time() - cpu
    out.put(run)


@dataclass
class Race:
    seconds: float
    runs: list[WorkerRun]
    machine_cpu: float  # CPU seconds the whole machine was busy during the race
    measured_cpu: dict[str, float]  # CPU seconds of named parts (the server, the database)

    @property
    def cycles(self) -> int:
        return sum(len(r.cycles) for r in self.runs)

    def cpu_line(self) -> str:
        """Where the CPU of one cycle went: what bounds the rate on a machine of few cores."""
        n = max(1, self.cycles)
        parts = {**self.measured_cpu, "clients": sum(r.cpu_seconds for r in self.runs)}
        rest = self.machine_cpu - sum(parts.values())
        busy = self.machine_cpu / self.seconds / (os.cpu_count() or 1)
        shares = ", ".join(f"{name} {cpu / n * 1000:.1f} ms" for name, cpu in parts.items())
        return (f"CPU per cycle: {shares}, rest of the machine {rest / n * 1000:.1f} ms; "
                f"CPUs {busy:.0%} busy")


def race(target: Any, args_of: list[tuple[Any, ...]], probes: dict[str, Any] | None = None) -> Race:
    """Start one process per argument tuple, release them together, measure them.

    `probes` name functions returning CPU seconds used so far by a part of the system.
    """
    probes = probes or {}
    context = mp.get_context("spawn")  # children need neither Django nor our connections
    start = context.Barrier(len(args_of) + 1)
    out = context.Queue()
    processes = [context.Process(target=target, args=(*a, start, out)) for a in args_of]
    for p in processes:
        p.start()
    start.wait()
    began = time.perf_counter()
    machine_cpu = harness.machine_busy_seconds()
    measured = {name: probe() for name, probe in probes.items()}
    runs = [out.get() for _ in processes]
    measured = {name: probe() - measured[name] for name, probe in probes.items()}
    machine_cpu = harness.machine_busy_seconds() - machine_cpu
    for p in processes:
        p.join()
    return Race(max(r.finished_at for r in runs) - began, runs, machine_cpu, measured)


def seed(url: str, *, problem: uuid.UUID, tasks: int, algos: int, sites: list[str | None]) -> None:
    """`tasks` todo learnuplets over the problem's algos, oldest first by rank, then vacuum.

    `sites`: the site of each worker (None: none). Task i belongs to the site of worker
    i mod len(sites): each site has tasks in proportion to its workers, so no worker runs
    out of its own site's tasks long before the others.
    """
    import psycopg

    with_sites = any(site is not None for site in sites)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE learning_learnuplet, tasks_taskevent")
        conn.execute(
            f"""
            INSERT INTO learning_learnuplet
                (uuid, problem_id, workflow, train_data, test_data, algo_id, rank, model_start, model_end,
                 status, attempt, queued_at, last_error, test_perf, train_perf, training_creation
                 {", site_id" if with_sites else ""})
            SELECT gen_random_uuid(), p.uuid, p.workflow,
                   ARRAY(SELECT gen_random_uuid() FROM generate_series(1, p.size_train_dataset + i * 0)),
                   p.test_dataset, a.ids[1 + i %% %(algos)s], i / %(algos)s, gen_random_uuid(), gen_random_uuid(),
                   'todo', 0, now() + i * interval '1 microsecond', '', '{{}}', '{{}}', now()
                   {", (%(sites)s::uuid[])[1 + i %% %(workers)s]" if with_sites else ""}
            FROM problems_problem p,
                 (SELECT array_agg(uuid ORDER BY uuid) AS ids FROM problems_algo WHERE problem_id = %(problem)s) a,
                 generate_series(0, %(tasks)s - 1) i
            WHERE p.uuid = %(problem)s
            """,
            {"problem": problem, "tasks": tasks, "algos": algos, "sites": sites, "workers": len(sites)},
        )
        conn.execute(
            """
            INSERT INTO tasks_taskevent (kind, task, from_status, to_status, attempt, actor, reason, at)
            SELECT 'learnuplet', uuid, '', 'todo', 0, 'system', 'generated', now() FROM learning_learnuplet
            """
        )
        conn.execute("VACUUM ANALYZE learning_learnuplet, tasks_taskevent")


def check(url: str, runs: list[WorkerRun], *, tasks: int, events: bool, sites: bool = False) -> dict[str, int]:
    """Duplicates, losses and (`sites`) claims across sites, from the clients' records and
    from the database."""
    import psycopg

    claims = Counter(task for r in runs for task, *_ in r.cycles)
    claimed_by = {task: r.worker for r in runs for task, *_ in r.cycles}
    accepted = {task for r in runs for task, _, _, _, ok in r.cycles if ok}
    with psycopg.connect(url) as conn:
        [(not_done,)] = conn.execute("SELECT count(*) FROM learning_learnuplet WHERE status <> 'done'").fetchall()
        done = {str(t) for (t,) in conn.execute("SELECT uuid FROM learning_learnuplet WHERE status = 'done'")}
        found = {"duplicates_db": 0, "worker_mismatch_db": 0}
        if events:
            pending = conn.execute(
                "SELECT task, worker FROM tasks_taskevent WHERE kind = 'learnuplet' AND to_status = 'pending'"
            ).fetchall()
            found["duplicates_db"] = sum(n - 1 for n in Counter(t for t, _ in pending).values() if n > 1)
            found["worker_mismatch_db"] = sum(1 for t, w in pending if claimed_by.get(str(t)) != str(w))
        if sites:
            # A task of a site held, or ever claimed, by a worker that is not of that site
            # (a worker no client owns counts as of no site).
            [(held,)] = conn.execute(
                """SELECT count(*) FROM learning_learnuplet l LEFT JOIN accounts_apiclient c ON c.worker = l.worker
                   WHERE l.site_id IS NOT NULL AND c.site_id IS DISTINCT FROM l.site_id"""
            ).fetchall()
            [(claimed,)] = conn.execute(
                """SELECT count(*) FROM tasks_taskevent e JOIN learning_learnuplet l ON l.uuid = e.task
                   LEFT JOIN accounts_apiclient c ON c.worker = e.worker
                   WHERE e.kind = 'learnuplet' AND e.to_status = 'pending'
                     AND l.site_id IS NOT NULL AND c.site_id IS DISTINCT FROM l.site_id"""
            ).fetchall() if events else [(0,)]
            [(of_sites,)] = conn.execute("SELECT count(*) FROM learning_learnuplet WHERE site_id IS NOT NULL").fetchall()
            found.update(other_site_db=held, other_site_events_db=claimed, site_tasks_db=of_sites)
    return {
        "duplicates_client": sum(n - 1 for n in claims.values() if n > 1),
        **found,
        # Not done at the end, done without any client having seen its result accepted,
        # or never claimed by a client at all.
        "lost": not_done + len(done - accepted) + (tasks - len(claims)),
    }


def summary(label: str, race: Race) -> tuple[float, list[float], str]:
    claims = [c for r in race.runs for _, _, c, _, _ in r.cycles]
    results = [s for r in race.runs for _, _, _, s, _ in r.cycles]
    rate = len(claims) / race.seconds
    line = (
        f"{label}: {len(claims)} cycles in {race.seconds:.2f} s = {rate:,.0f} cycles/s; "
        f"claim p50 {harness.ms(harness.percentile(claims, 50))}, p99 {harness.ms(harness.percentile(claims, 99))}, "
        f"max {harness.ms(max(claims, default=0))}; result p50 {harness.ms(harness.percentile(results, 50))}, "
        f"p99 {harness.ms(harness.percentile(results, 99))}"
    )
    return rate, claims, line


def main() -> None:
    parser = harness.arguments(__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=16, help="client processes")
    parser.add_argument("--algos", type=int, default=1000, help="chains the tasks are spread over")
    parser.add_argument("--server-workers", type=int, help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--worker-class", choices=["gthread", "sync"],
                        help="gunicorn worker class (sync: no keep-alive, one request per process)")
    parser.add_argument("--sites", type=int, default=0,
                        help="spread the workers, and the tasks with them, over N sites (issue 15)")
    parser.add_argument("--profile", action="store_true",
                        help="then count the Python calls and CPU of claim-and-result cycles in-process")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.workers, args.algos = 200, 4, 20
    with harness.fresh_database("claims", embedded=args.embedded, keep=args.keep) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    from accounts.services import client_create
    from problems.models import Algo
    from problems.services import problem_create

    problem = problem_create(
        workflow=uuid.uuid4(), test_dataset=[uuid.uuid4() for _ in range(10)], size_train_dataset=10
    )
    Algo.objects.bulk_create([Algo(problem=problem, name=f"algo-{i}") for i in range(args.algos)])
    if args.sites:
        # Through the service createclient uses: the site is created on first use.
        clients = [client_create(name=f"bench-worker-{i}", role="compute", site=f"bench-site-{i % args.sites}")
                   for i in range(args.workers)]
    else:  # the same call as before sites, so that the script runs on a tree without them
        clients = [client_create(name=f"bench-worker-{i}", role="compute") for i in range(args.workers)]
    # Read only with --sites: before sites (36ab635) a client has no site_id.
    sites: list[str | None] = [str(c.site_id) if args.sites else None for c, _ in clients]
    import psycopg

    with psycopg.connect(url) as conn:
        columns = {name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'learning_learnuplet'")}
    claim_sql = sql_claim(columns)

    seed(url, problem=problem.pk, tasks=args.tasks, algos=args.algos, sites=sites)
    sql_race = race(sql_worker, [(url, str(c.worker), claim_sql, site or NIL) for (c, _), site in zip(clients, sites)])
    sql_checks = check(url, sql_race.runs, tasks=args.tasks, events=False, sites=bool(args.sites))
    sql_rate, _, sql_line = summary("baseline raw SQL", sql_race)

    seed(url, problem=problem.pk, tasks=args.tasks, algos=args.algos, sites=sites)
    server = harness.Server(url, workers=args.server_workers, threads=args.threads,
                            worker_class=args.worker_class)
    with server:
        http_race = race(
            http_worker, [(server.port, token, str(c.worker)) for c, token in clients],
            {"server": server.cpu_seconds, "PostgreSQL backends": lambda: harness.database_cpu_seconds(url)},
        )
        # Calibration: what the same server answers per second when a request does nothing.
        floor_requests = max(20, args.tasks // 10 // args.workers)
        floor_race = race(floor_worker, [(server.port, floor_requests)] * args.workers)
    floor_rate = floor_race.cycles / floor_race.seconds
    checks = check(url, http_race.runs, tasks=args.tasks, events=True, sites=bool(args.sites))
    rate, claims, http_line = summary("HTTP", http_race)
    errors = sum((r.errors for r in http_race.runs), Counter())
    claim_queries = Counter(server.queries(f"POST {CLAIM}"))
    result_queries = Counter(server.queries("POST /api/v1/learnuplets/{uuid}/result/"))

    print(harness.machine(url))
    print(f"claims: {args.tasks} todo learnuplets over {args.algos} algos; {args.workers} worker processes "
          f"claim then report done over HTTP until empty; server: {server.description}")
    if args.sites:
        print(f"sites: {args.sites}, the workers round-robin over them ({Counter(sites).most_common(1)[0][1]} at most "
              f"per site), {checks['site_tasks_db']} of the {args.tasks} tasks of a site, each of a worker's site "
              f"in turn")
    print(f"queries per claim: {dict(claim_queries)}; per result: {dict(result_queries)} (queries: requests)")
    for label, key in (("claim", f"POST {CLAIM}"), ("result", "POST /api/v1/learnuplets/{uuid}/result/"),
                       ("GET /healthz", "GET /healthz")):
        stats = server.requests.get(key, {"seconds": [], "cpu": []})
        print(f"server-side {label}: time p50 {harness.ms(harness.percentile(stats['seconds'], 50))}, "
              f"p99 {harness.ms(harness.percentile(stats['seconds'], 99))}; "
              f"CPU of its thread p50 {harness.ms(harness.percentile(stats['cpu'], 50))}")
    print(f"HTTP errors: {dict(errors) or 0}")
    print(f"HTTP duplicates: {checks['duplicates_client']} in client records, {checks['duplicates_db']} in "
          f"tasks_taskevent ({checks['worker_mismatch_db']} claim events naming another worker); "
          f"lost: {checks['lost']}")
    print(f"baseline duplicates: {sql_checks['duplicates_client']}; lost: {sql_checks['lost']}")
    if args.sites:
        print(f"HTTP claimed by a worker of another site: {checks['other_site_db']} tasks held, "
              f"{checks['other_site_events_db']} claim events in tasks_taskevent; "
              f"baseline: {sql_checks['other_site_db']} tasks held")
    print(f"server floor: GET /healthz from {args.workers} processes: {floor_rate:,.0f} requests/s "
          f"(a cycle is 2 requests: at most {floor_rate / 2:,.0f} cycles/s if claim and result cost nothing)")
    print(f"baseline {sql_race.cpu_line()}")
    print(f"HTTP {http_race.cpu_line()}")
    print(sql_line)
    print(http_line)
    p99 = harness.percentile(claims, 99)
    print(f"targets: >= 400 cycles/s ({'met' if rate >= 400 else 'MISSED'}), p99 claim < 30 ms "
          f"({'met' if p99 < 0.030 else 'MISSED'}), 0 duplicates and 0 lost "
          f"({'met' if not (checks['duplicates_client'] or checks['duplicates_db'] or checks['lost']) else 'MISSED'})"
          + (f", 0 claimed across sites ({'met' if not (checks['other_site_db'] or checks['other_site_events_db']) else 'MISSED'})"
             if args.sites else ""))
    if args.profile:
        print(profile_in_process(url, problem.pk, algos=args.algos, clients=clients, sites=sites))
    print(f"ratio to baseline: {rate:,.0f} / {sql_rate:,.0f} cycles/s = {rate / sql_rate:.3f} "
          f"(raw SQL is {sql_rate / rate:.1f}x faster)")


def profile_in_process(url: str, problem: uuid.UUID, *, algos: int, clients: list[Any],
                       sites: list[str | None], cycles: int = 200) -> str:
    """Python calls and CPU of one claim-and-result cycle through Django's test client
    (no HTTP, no gunicorn), by the first worker: figures that do not move with the load
    of a shared machine, unlike rates."""
    import cProfile
    import pstats

    from django.test import Client

    (first, token), site = clients[0], sites[0]
    # Every task of the first worker's site (or of none): its claims never fall through to
    # the platform's.
    seed(url, problem=problem, tasks=cycles + 20, algos=algos, sites=[site])
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def cycle() -> None:
        claimed = client.post(CLAIM, {}, content_type="application/json")
        assert claimed.status_code == 200, claimed.content[:300]
        task = claimed.json()
        done = client.post(RESULT.format(task["uuid"]), {"attempt": task["attempt"], "status": "done", "perf": 0.5,
                                                          "train_perf": {}, "test_perf": {}},
                           content_type="application/json")
        assert done.status_code == 200, done.content[:300]

    for _ in range(20):  # warm: compiled statements, prepared ones, serializers
        cycle()
    profiler = cProfile.Profile()
    cpu = time.process_time()
    profiler.enable()
    for _ in range(cycles):
        cycle()
    profiler.disable()
    cpu = time.process_time() - cpu
    calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]  # set by Stats, not in typeshed
    # Again without the profiler: its overhead would swamp the CPU figure.
    seed(url, problem=problem, tasks=cycles + 20, algos=algos, sites=[site])
    for _ in range(20):
        cycle()
    bare = time.process_time()
    for _ in range(cycles):
        cycle()
    bare = time.process_time() - bare
    return (f"in-process ({cycles} cycles by one worker{' of a site' if site else ''}, Django's test client): "
            f"{calls / cycles:,.0f} Python calls per claim-and-result cycle; CPU of this process "
            f"{bare / cycles * 1000:.2f} ms per cycle")


if __name__ == "__main__":
    main()
