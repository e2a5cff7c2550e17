"""Generation: one POST /api/v1/data/ registering many data against many algos.

A problem with `--algos` algos and size_train_dataset `--batch`; one request registers
`--data` data over HTTP to gunicorn (production settings, one worker, so that the peak
RSS is the one process that served it). Baseline in the same run: PostgreSQL COPY,
through psycopg, of the very rows the request wrote into copies of their tables (same
columns, defaults, checks and indexes; no foreign keys).

    .venv/bin/python bench/generation.py [--data 10000 --algos 20 --batch 10] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
import uuid

import harness

# The rows the request writes, table by table, and how to find them afterwards.
WRITTEN = {
    "problems_data": "SELECT {cols} FROM problems_data WHERE %(problem)s = ANY(problems) ORDER BY seq",
    "learning_learnuplet": "SELECT {cols} FROM learning_learnuplet WHERE problem_id = %(problem)s",
    "tasks_taskevent": (
        "SELECT {cols} FROM tasks_taskevent e JOIN learning_learnuplet l ON l.uuid = e.task "
        "WHERE l.problem_id = %(problem)s"
    ),
}


def main() -> None:
    parser = harness.arguments(__doc__.splitlines()[0])
    parser.add_argument("--data", type=int, default=10_000)
    parser.add_argument("--algos", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10, help="size_train_dataset")
    parser.add_argument("--profile", action="store_true",
                        help="also run the same request in-process under cProfile and list its SQL")
    args = parser.parse_args()
    if args.quick:
        args.data, args.algos = 200, 4

    with harness.fresh_database("generation", embedded=args.embedded, keep=args.keep) as url:
        run(args, url)


def _problem_with_algos(algos: int, batch: int) -> uuid.UUID:
    from problems.services import algo_register, problem_create

    problem = problem_create(
        workflow=uuid.uuid4(), test_dataset=[uuid.uuid4() for _ in range(10)], size_train_dataset=batch
    )
    for i in range(algos):
        algo_register(problem=problem.pk, name=f"algo-{i}")
    return problem.pk


def run(args: argparse.Namespace, url: str) -> None:
    from accounts.services import client_create

    _, token = client_create(name="bench-uploader", role="client")
    problem = _problem_with_algos(args.algos, args.batch)
    data = [str(uuid.uuid4()) for _ in range(args.data)]
    expected = -(-args.data // args.batch) * args.algos

    with harness.Server(url, workers=1, threads=1) as server:
        http = harness.Http(server.port, token)
        # Warm-up: the first request loads the URLconf, DRF and the serializers.
        status, _ = http.get(f"{harness.API}/problems/")
        assert status == 200, status
        start = time.perf_counter()
        status, body = http.post(f"{harness.API}/data/", {"uuid": data, "problems": [str(problem)]})
        wall = time.perf_counter() - start
        assert status == 201, (status, str(body)[:500])
        assert body["new_learnuplets"] == expected, (body["new_learnuplets"], expected)
    stats = server.requests["POST /api/v1/data/"]

    copy_all, copy_learnuplets, rows = copy_baseline(url, problem)
    assert rows["learning_learnuplet"] == expected, rows

    if args.profile:
        profile_in_process(args)

    print(harness.machine(url))
    print(f"generation: POST {harness.API}/data/ with {args.data} data for a problem of {args.algos} algos, "
          f"size_train_dataset {args.batch}, over HTTP to {server.description}")
    print(f"rows written: {rows['problems_data']} data, {rows['learning_learnuplet']} learnuplets, "
          f"{rows['tasks_taskevent']} task events")
    print(f"request wall time: {wall:.3f} s (server side {stats['seconds'][0]:.3f} s)")
    print(f"queries: {stats['queries'][0]}")
    print(f"learnuplets/s: {expected / wall:,.0f}")
    print(f"server peak RSS: {stats['peak_rss_kb'] / 1024:.0f} MiB "
          f"(+{(stats['peak_rss_kb'] - stats['rss_before_kb']) / 1024:.0f} MiB over its RSS before the request)")
    print(f"baseline COPY of the learnuplets only: {copy_learnuplets:.3f} s "
          f"(ratio {wall / copy_learnuplets:.1f}x)")
    print(f"baseline COPY of every row the request wrote: {copy_all:.3f} s")
    print(f"ratio to baseline: {wall / copy_all:.1f}x (target <= 3x)")


def copy_baseline(url: str, problem: uuid.UUID) -> tuple[float, float, dict[str, int]]:
    """COPY the rows the request wrote into copies of their tables; return the times.

    Returns (seconds for all tables in one transaction, seconds for the learnuplets alone,
    row counts). The rows are read first, so only the writing is timed.
    """
    import psycopg

    rows: dict[str, list[tuple[object, ...]]] = {}
    columns: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        for table, query in WRITTEN.items():
            names = [
                name for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND column_name <> 'id' ORDER BY ordinal_position", [table])
            ]
            prefix = "e." if table == "tasks_taskevent" else ""
            columns[table] = names
            # As text: COPY parses every type from it, as it would from a file.
            cols = ", ".join(f"{prefix}{n}::text" for n in names)
            rows[table] = conn.execute(query.format(cols=cols), {"problem": problem}).fetchall()
            for copy in ("bench_copy_", "bench_copy_alone_"):
                conn.execute(f"CREATE TABLE {copy}{table} (LIKE {table} INCLUDING ALL)")
        conn.commit()

        def copy_into(prefix: str, tables: list[str]) -> float:
            start = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                for table in tables:
                    with cur.copy(f"COPY {prefix}{table} ({', '.join(columns[table])}) FROM STDIN") as copy:
                        for row in rows[table]:
                            copy.write_row(row)
            return time.perf_counter() - start

        all_tables = copy_into("bench_copy_", list(WRITTEN))
        learnuplets = copy_into("bench_copy_alone_", ["learning_learnuplet"])
    return all_tables, learnuplets, {table: len(r) for table, r in rows.items()}


def profile_in_process(args: argparse.Namespace) -> None:
    """The same request through Django's test client, under cProfile, with its SQL."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.services import client_create

    _, token = client_create(name="bench-profiler", role="client")
    problem = _problem_with_algos(args.algos, args.batch)
    data = [str(uuid.uuid4()) for _ in range(args.data)]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    client.get(f"{harness.API}/problems/")
    profiler = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        profiler.enable()
        response = client.post(f"{harness.API}/data/", {"uuid": data, "problems": [str(problem)]},
                               content_type="application/json")
        profiler.disable()
    assert response.status_code == 201, response.content[:500]
    print("--- in-process profile (cProfile, cumulative) ---")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
    print(out.getvalue())
    print(f"--- its {len(queries)} queries ---")
    for q in queries.captured_queries:
        print(f"{float(q['time']) * 1000:8.1f} ms  {len(q['sql']):>9} chars  {q['sql'][:110]}")


if __name__ == "__main__":
    main()
