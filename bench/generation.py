"""Generation: one POST /api/v1/data/ registering many data against many algos.

A problem with `--algos` algos and size_train_dataset `--batch`; one request registers
`--data` data over HTTP to gunicorn (production settings, one worker, so that the peak
RSS is the one process that served it). Baseline in the same run: PostgreSQL COPY,
through psycopg, of the very rows the request wrote into copies of their tables (same
columns, defaults, checks and indexes; no foreign keys).

Then the other way round, generation by algo registration: `--data` data registered first
(through the services, in uploads of 200, each of the next of `--sites` sites in
turn; platform data without `--sites`) for a problem without algos, then `--algos` requests POST
algos/, each generating one chain over all of them: with sites, mini-batches per site
(issue 15). Its figures are each request's queries and the time of all of them.

`--sites N` (issue 15): the uploader is a member of a site (one registration carries one
site), and the data of the algo registrations belong to N sites. Without it the same
requests run as before sites, so the script also runs on a tree without them.

    .venv/bin/python bench/generation.py [--data 10000 --algos 20 --batch 10] [--sites 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
import uuid
from collections import Counter
from typing import Any

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
    parser.add_argument("--sites", type=int, default=0,
                        help="the uploader of a site; the algos' data over N sites (issue 15)")
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


def _client(name: str, site: str | None) -> str:
    """A client (role client) of `site`, or of none; its token."""
    from accounts.services import client_create

    # Without a site, the call of a tree before sites (36ab635).
    _, token = client_create(name=name, role="client", site=site) if site else client_create(name=name, role="client")
    return token


def _data_of_sites(count: int, batch: int, sites: int, members: str = "bench-site-client") -> uuid.UUID:
    """A problem without algos and `count` data for it, registered in uploads of 200 of
    `sites` sites in turn (of no site when 0): no learnuplet is generated. A client
    `members-i` is made in each site (which creates it)."""
    from accounts.models import ApiClient
    from problems.services import data_register, problem_create

    problem = problem_create(
        workflow=uuid.uuid4(), test_dataset=[uuid.uuid4() for _ in range(10)], size_train_dataset=batch
    )
    made = [_client(f"{members}-{i}", f"bench-site-{i}") for i in range(sites)]
    site_ids = [site for (site,) in ApiClient.objects.filter(user__username__startswith=f"{members}-")
                .order_by("user__username").values_list("site_id")] if made else []
    # Uploads of 200 (fewer at small sizes, so that every site has data).
    chunk = max(1, min(200, count // (max(sites, 1) * 5)))
    for n, start in enumerate(range(0, count, chunk)):
        uuids = [uuid.uuid4() for _ in range(min(chunk, count - start))]
        if site_ids:
            data_register(uuids=uuids, problems=[problem.pk], site=site_ids[n % len(site_ids)])
        else:
            data_register(uuids=uuids, problems=[problem.pk])
    return problem.pk


def run(args: argparse.Namespace, url: str) -> None:
    token = _client("bench-uploader", "bench-site-uploader" if args.sites else None)
    problem = _problem_with_algos(args.algos, args.batch)
    data = [str(uuid.uuid4()) for _ in range(args.data)]
    expected = -(-args.data // args.batch) * args.algos
    # Algo registrations: data first, over the sites; every site's share cuts into whole
    # batches at the default sizes, so the learnuplets are as many as without sites.
    algo_problem = _data_of_sites(args.data, args.batch, args.sites)
    empty_problem = _problem_with_algos(0, args.batch)

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
        # The algos' warm-up: an algo of a problem without data (the serializers, the
        # algo registration's statements), not counted below.
        status, _ = http.post(f"{harness.API}/algos/", {"problem": str(empty_problem), "name": "warm-up"})
        assert status == 201, status
        algo_walls, algo_new = [], 0
        for i in range(args.algos):
            start = time.perf_counter()
            status, body = http.post(f"{harness.API}/algos/", {"problem": str(algo_problem), "name": f"algo-{i}"})
            algo_walls.append(time.perf_counter() - start)
            assert status == 201, (status, str(body)[:500])
            algo_new += body["new_learnuplets"]
    stats = server.requests["POST /api/v1/data/"]
    algo_stats = server.requests["POST /api/v1/algos/"]
    algo_queries = algo_stats["queries"][1:]  # the warm-up's first
    algo_cpu = algo_stats["cpu"][1:]
    sites_of_chain = _sites_of_learnuplets(url, algo_problem)

    copy_all, copy_learnuplets, rows = copy_baseline(url, problem)
    assert rows["learning_learnuplet"] == expected, rows

    if args.profile:
        profile_in_process(args)

    print(harness.machine(url))
    print(f"generation: POST {harness.API}/data/ with {args.data} data for a problem of {args.algos} algos, "
          f"size_train_dataset {args.batch}, over HTTP to {server.description}")
    print(f"rows written: {rows['problems_data']} data, {rows['learning_learnuplet']} learnuplets, "
          f"{rows['tasks_taskevent']} task events")
    if args.sites:
        print(f"sites: the uploader is a member of a site; the algos' data belong to {args.sites} sites")
    print(f"request wall time: {wall:.3f} s (server side {stats['seconds'][0]:.3f} s, "
          f"CPU of its thread {stats['cpu'][0]:.3f} s)")
    print(f"queries: {stats['queries'][0]}")
    print(f"algo registrations: {args.algos} x POST {harness.API}/algos/ over {args.data} data of "
          f"{len(sites_of_chain)} site(s) (learnuplets per site: {', '.join(map(str, sorted(sites_of_chain.values())))}), "
          f"{algo_new} learnuplets in all")
    print(f"algo registrations: wall time {sum(algo_walls):.3f} s in all, per request median "
          f"{harness.ms(harness.median(algo_walls))} (min {harness.ms(min(algo_walls))}, "
          f"max {harness.ms(max(algo_walls))}); CPU of its thread median {harness.ms(harness.median(algo_cpu))}")
    print(f"algo registrations: queries per request {dict(Counter(algo_queries))} (queries: requests)")
    print(f"learnuplets/s: {expected / wall:,.0f}")
    print(f"server peak RSS: {stats['peak_rss_kb'] / 1024:.0f} MiB "
          f"(+{(stats['peak_rss_kb'] - stats['rss_before_kb']) / 1024:.0f} MiB over its RSS before the request)")
    print(f"baseline COPY of the learnuplets only: {copy_learnuplets:.3f} s "
          f"(ratio {wall / copy_learnuplets:.1f}x)")
    print(f"baseline COPY of every row the request wrote: {copy_all:.3f} s")
    print(f"ratio to baseline: {wall / copy_all:.1f}x (target <= 3x)")


def _sites_of_learnuplets(url: str, problem: uuid.UUID) -> dict[str, int]:
    """The problem's learnuplets per site ("platform": none); each batch all of its site."""
    import psycopg

    with psycopg.connect(url) as conn:
        columns = {name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'learning_learnuplet'")}
        if "site_id" not in columns:  # before sites (36ab635)
            [(count,)] = conn.execute(
                "SELECT count(*) FROM learning_learnuplet WHERE problem_id = %s", [problem]).fetchall()
            return {"platform": count}
        [(mixed,)] = conn.execute(
            """SELECT count(*) FROM learning_learnuplet l, unnest(l.train_data) AS t(datum)
               JOIN problems_data d ON d.uuid = t.datum
               WHERE l.problem_id = %s AND d.site_id IS DISTINCT FROM l.site_id""", [problem]).fetchall()
        assert mixed == 0, f"{mixed} train data of another site than their learnuplet's"
        return {str(site or "platform"): count for site, count in conn.execute(
            "SELECT site_id, count(*) FROM learning_learnuplet WHERE problem_id = %s GROUP BY 1", [problem])}


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
        sql = q["sql"] or ""  # None for a statement bound server-side (orchestrator_site.compiled)
        print(f"{float(q['time']) * 1000:8.1f} ms  {len(sql):>9} chars  {sql[:110]}")
    print(profile_algos_in_process(args, client))


def profile_algos_in_process(args: argparse.Namespace, client: Any, runs: int = 5) -> str:
    """Algo registrations over `--data` data of `--sites` sites, in-process: Python calls
    (under cProfile) and CPU per request (without it), figures that do not move with the
    load of a shared machine."""
    problem = str(_data_of_sites(args.data, args.batch, args.sites, members="bench-profile-site-client"))
    empty = str(_problem_with_algos(0, args.batch))
    assert client.post(f"{harness.API}/algos/", {"problem": empty, "name": "warm-up"},
                       content_type="application/json").status_code == 201

    def register(name: str) -> None:
        response = client.post(f"{harness.API}/algos/", {"problem": problem, "name": name},
                               content_type="application/json")
        assert response.status_code == 201, response.content[:500]

    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(runs):
        register(f"profiled-{i}")
    profiler.disable()
    calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]  # set by Stats, not in typeshed
    cpu = time.process_time()
    for i in range(runs):
        register(f"timed-{i}")
    cpu = time.process_time() - cpu
    return (f"in-process algo registration over {args.data} data of {max(args.sites, 1)} site(s): "
            f"{calls / runs:,.0f} Python calls per request; CPU of this process {cpu / runs * 1000:.1f} ms per "
            f"request (the database's own work not included)")


if __name__ == "__main__":
    main()
