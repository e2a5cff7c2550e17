"""Lists: GET /api/v1/learnuplets/?page_size=1000 filtered by status and algo, over many rows.

`--rows` learnuplets (bulk-loaded with INSERT ... SELECT generate_series) in `--algos`
chains: the first 80% of each chain done (one in 50 failed) with perf and per-data
scores, one pending, the rest waiting. Each listing is requested `--runs` times over
HTTP from gunicorn (production settings, one worker); the figures are the median and
the maximum of the client-side latency, and the server's query count. Baseline in the
same run: the SQL statements the listing runs (captured from Django), executed raw
through psycopg, rows fetched.

    .venv/bin/python bench/lists.py [--rows 1000000 --algos 20 --runs 7] [--explain] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
import uuid
from collections import Counter

import harness

LIST = f"{harness.API}/learnuplets/"


def seed(url: str, *, problem: uuid.UUID, rows: int, algos: int, size: int) -> float:
    """Bulk-load the learnuplets in one INSERT ... SELECT; return the seconds it took."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # Loading first and indexing after is several times faster than maintaining the
        # indexes row by row; the constraints' own indexes stay.
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            """
            SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'learning_learnuplet'
            AND indexname NOT IN (SELECT conname FROM pg_constraint
                                  WHERE conrelid = 'learning_learnuplet'::regclass)
            """
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        # 10,000 distinct mini-batches with their scores, shared round-robin by the rows:
        # per-row random arrays and JSON would make the load several times slower, and
        # the listing reads the same bytes either way.
        conn.execute(
            """
            CREATE TEMPORARY TABLE batch AS
            SELECT n, train, (SELECT jsonb_object_agg(d, round(random()::numeric, 4)) FROM unnest(train) d) AS scores
            FROM generate_series(0, 9999) n,
                 LATERAL (SELECT ARRAY(SELECT gen_random_uuid() FROM generate_series(1, %(size)s + n * 0))
                          AS train) t
            """,
            {"size": size},
        )
        conn.execute(
            """
            INSERT INTO learning_learnuplet
                (uuid, problem_id, workflow, train_data, test_data, algo_id, rank, model_start, model_end,
                 status, worker, attempt, queued_at, claimed_at, heartbeat_at, lease_expires_at,
                 perf, train_perf, test_perf, last_error, training_creation, training_done)
            SELECT gen_random_uuid(), p.uuid, p.workflow, b.train, p.test_dataset, a.ids[1 + i %% %(algos)s],
                   s.rank, CASE WHEN s.status <> 'waiting' THEN gen_random_uuid() END, gen_random_uuid(),
                   s.status,
                   CASE WHEN s.status <> 'waiting' THEN %(worker)s::uuid END,
                   CASE s.status WHEN 'failed' THEN 3 WHEN 'waiting' THEN 0 ELSE 1 END,
                   CASE WHEN s.status <> 'waiting' THEN now() END,
                   CASE WHEN s.status <> 'waiting' THEN now() END,
                   CASE WHEN s.status <> 'waiting' THEN now() END,
                   CASE WHEN s.status = 'pending' THEN now() + interval '1 hour' END,
                   CASE WHEN s.status = 'done' THEN round(random()::numeric, 4)::float END,
                   CASE WHEN s.status = 'done' THEN b.scores ELSE '{}' END,
                   CASE WHEN s.status = 'done' THEN test.scores ELSE '{}' END,
                   CASE WHEN s.status = 'failed' THEN 'worker crashed' ELSE '' END,
                   now() - (%(rows)s - i) * interval '1 millisecond',
                   CASE WHEN s.status IN ('done', 'failed') THEN now() END
            FROM problems_problem p,
                 (SELECT array_agg(uuid ORDER BY uuid) AS ids FROM problems_algo WHERE problem_id = %(problem)s) a,
                 (SELECT jsonb_object_agg(d, round(random()::numeric, 4)) AS scores
                  FROM problems_problem, unnest(test_dataset) d WHERE uuid = %(problem)s) test,
                 generate_series(0, %(rows)s - 1) i
                 JOIN batch b ON b.n = i %% 10000,
                 LATERAL (SELECT i / %(algos)s AS rank,
                                 CASE WHEN i / %(algos)s < %(done)s THEN
                                     CASE WHEN (i / %(algos)s) %% 50 = 49 THEN 'failed' ELSE 'done' END
                                 WHEN i / %(algos)s = %(done)s THEN 'pending'
                                 ELSE 'waiting' END AS status) s
            WHERE p.uuid = %(problem)s
            """,
            {"problem": problem, "rows": rows, "algos": algos, "done": int(0.8 * (rows // algos)),
             "worker": uuid.uuid4()},
        )
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE learning_learnuplet")
    return time.perf_counter() - start


def main() -> None:
    parser = harness.arguments(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--algos", type=int, default=20)
    parser.add_argument("--runs", type=int, default=7, help="requests per listing (after one warm-up)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the listing's SQL")
    parser.add_argument("--profile", action="store_true", help="profile the headline listing in-process")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.algos, args.runs = 2000, 4, 3
    with harness.fresh_database("lists", embedded=args.embedded, keep=args.keep) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    from accounts.services import client_create
    from problems.models import Algo
    from problems.services import problem_create

    problem = problem_create(
        workflow=uuid.uuid4(), test_dataset=[uuid.uuid4() for _ in range(10)], size_train_dataset=10
    )
    Algo.objects.bulk_create([Algo(problem=problem, name=f"algo-{i}") for i in range(args.algos)])
    algo = Algo.objects.filter(problem=problem).order_by("uuid").values_list("pk", flat=True).first()
    _, worker_token = client_create(name="bench-worker", role="compute")
    _, client_token = client_create(name="bench-client", role="client")
    seeded = seed(url, problem=problem.pk, rows=args.rows, algos=args.algos, size=10)

    done_of_algo = int(0.8 * (args.rows // args.algos)) - int(0.8 * (args.rows // args.algos)) // 50
    last_page = max(1, -(-done_of_algo // 1000))
    headline = f"?page_size=1000&status=done&algo={algo}"
    listings = [
        ("compute", headline),
        # The same listing, its parameters in another order so that the server's
        # statistics (kept per path and query string) tell the roles apart.
        ("client", f"?status=done&algo={algo}&page_size=1000"),
        ("compute", f"?page_size=10&status=done&algo={algo}"),
        ("compute", f"?page_size=1000&status=waiting&algo={algo}"),
        ("compute", "?page_size=1000&status=todo,pending"),
        ("compute", "?page_size=1000"),
        ("compute", f"?page_size=1000&status=done&algo={algo}&page={last_page}"),
    ]
    tokens = {"compute": worker_token, "client": client_token}
    latencies: dict[tuple[str, str], list[float]] = {}
    sizes: dict[tuple[str, str], int] = {}
    with harness.Server(url, workers=1, threads=1) as server:
        https = {role: harness.Http(server.port, token) for role, token in tokens.items()}
        for role, query in listings:
            times = []
            for attempt in range(args.runs + 1):
                start = time.perf_counter()
                status, body = https[role].get(LIST + query)
                elapsed = time.perf_counter() - start
                assert status == 200, (status, str(body)[:300])
                if attempt:  # the first is a warm-up
                    times.append(elapsed)
            latencies[(role, query)] = times
            sizes[(role, query)] = len(body["results"])

    sql = listing_sql(worker_token, headline)
    baseline = time_sql(url, sql, args.runs)
    if args.explain:
        explain(url, sql)
    if args.profile:
        profile(worker_token, headline)

    print(harness.machine(url))
    print(f"lists: {args.rows:,} learnuplets over {args.algos} algos (bulk-loaded in {seeded:.1f} s); "
          f"{args.runs} runs each after a warm-up, over HTTP to {server.description}")
    for role, query in listings:
        times = latencies[(role, query)]
        key = "GET " + LIST + query.replace(str(algo), "{uuid}")
        queries = dict(Counter(server.queries(key)))
        print(f"{role:8s} GET {LIST}{query.replace(str(algo), '<algo>')}: {sizes[(role, query)]} rows, "
              f"median {harness.ms(harness.median(times))}, max {harness.ms(max(times))}, "
              f"queries {queries} (queries: requests)")
    head = harness.median(latencies[("compute", headline)])
    print(f"baseline: the listing's {len(sql)} SQL statements raw through psycopg: median {harness.ms(baseline)}")
    print(f"target: headline listing < 300 ms ({'met' if head < 0.3 else 'MISSED'}: {harness.ms(head)})")
    print(f"ratio to baseline: {head / baseline:.1f}x ({harness.ms(head)} / {harness.ms(baseline)})")


def listing_sql(token: str, query: str) -> list[str]:
    """The statements on learnuplets that the listing runs, captured in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST + query)
    assert response.status_code == 200, response.content[:300]
    return [q["sql"] for q in captured.captured_queries if "learning_learnuplet" in q["sql"]]


def time_sql(url: str, statements: list[str], runs: int) -> float:
    import psycopg

    times = []
    with psycopg.connect(url, autocommit=True) as conn:
        for attempt in range(runs + 1):
            start = time.perf_counter()
            for statement in statements:
                conn.execute(statement).fetchall()
            if attempt:
                times.append(time.perf_counter() - start)
    return harness.median(times)


def explain(url: str, statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            print(f"--- EXPLAIN ANALYZE {statement[:160]}")
            for (line,) in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"):
                print(line)


def profile(token: str, query: str) -> None:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    client.get(LIST + query)
    profiler = cProfile.Profile()
    profiler.enable()
    client.get(LIST + query)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    print("--- in-process profile of the headline listing (cProfile, by own time) ---")
    print(out.getvalue())


if __name__ == "__main__":
    main()
