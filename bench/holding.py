"""Holding: what 1,000 requests that wait cost a server, by server kind, apart from the app.

The choice of issue 17 between gunicorn gthread (a thread per waiting request, the
project's server) and an ASGI server with async views (a coroutine per waiting request):
each serves a bare app whose only route waits `--wait` seconds and answers 204, as a
waiting claim that nothing wakes. `--clients` keep-alive connections each send one such
request at about 500 a second; once all wait, `--seconds` are measured: the server's CPU
(master and workers, as a share of one core), its RSS and PSS, and its threads. A waiting
claim's own work (authentication, its tries, the answer) is the same Django code under
either server (DRF views are synchronous) and is measured by bench/dispatch.py.

    .venv/bin/python bench/holding.py [--clients 1000 --seconds 30]

The ASGI side needs uvicorn (`pip install uvicorn==0.54.0`); without it, it is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import harness

WSGI_APP = """
import threading

def application(environ, start_response):
    # A waiting claim under gthread: its thread sleeps on an event that nothing sets.
    threading.Event().wait(float(environ.get("QUERY_STRING", "").partition("=")[2] or 60))
    start_response("204 No Content", [])
    return [b""]
"""

ASGI_APP = """
import asyncio

async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    # A waiting claim as an async view: its coroutine awaits an event that nothing sets.
    wait = float(scope.get("query_string", b"").decode().partition("=")[2] or 60)
    try:
        await asyncio.wait_for(asyncio.Event().wait(), wait)
    except asyncio.TimeoutError:
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def start(kind: str, directory: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    if kind == "gthread":
        (directory / "wsgi_app.py").write_text(textwrap.dedent(WSGI_APP))
        command = [sys.executable, "-m", "gunicorn", "wsgi_app:application", "--config",
                   str(harness.ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
                   "--workers", str(workers), "--log-level", "warning"]
    else:
        (directory / "asgi_app.py").write_text(textwrap.dedent(ASGI_APP))
        command = [sys.executable, "-m", "uvicorn", "asgi_app:application", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                   "--timeout-keep-alive", "30"]
    return subprocess.Popen(command, cwd=directory)


def pids(master: int) -> list[int]:
    try:
        with open(f"/proc/{master}/task/{master}/children") as children:
            return [master, *map(int, children.read().split())]
    except OSError:
        return [master]


def memory(master: int) -> tuple[int, int, int]:
    rss = pss = threads = 0
    for pid in pids(master):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss, threads


def cpu(master: int) -> float:
    return sum(harness.process_cpu_seconds(pid) for pid in pids(master))


async def hold(port: int, wait: float, answered: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /claim/?wait={wait} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    if await reader.readline():
        answered[0] += 1
    writer.close()


async def measure(kind: str, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory() as directory:
        port = harness._free_port()
        server = start(kind, Path(directory), port, args.workers)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        return f"{kind}: did not start"
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1)
            idle_cpu, began = cpu(server.pid), time.perf_counter()
            await asyncio.sleep(5)
            idle = (cpu(server.pid) - idle_cpu) / (time.perf_counter() - began)
            rss0, pss0, threads0 = memory(server.pid)
            answered = [0]
            holders = []
            for _ in range(args.clients):
                holders.append(asyncio.create_task(hold(port, args.seconds + 30, answered)))
                await asyncio.sleep(0.002)
            await asyncio.sleep(2)
            cpu0, began = cpu(server.pid), time.perf_counter()
            peak = (0, 0, 0)
            while time.perf_counter() - began < args.seconds:
                peak = max(peak, memory(server.pid))
                await asyncio.sleep(1)
            held = (cpu(server.pid) - cpu0) / (time.perf_counter() - began)
            early = answered[0]
            for task in holders:
                task.cancel()
            await asyncio.gather(*holders, return_exceptions=True)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        rss, pss, threads = peak
        return (f"{kind} ({args.workers} workers): idle {idle:.1%} of a core; holding {args.clients} waiting "
                f"requests {held:.1%} of a core; RSS {rss0 / 1024:.0f} -> {rss / 1024:.0f} MiB, PSS "
                f"{pss0 / 1024:.0f} -> {pss / 1024:.0f} MiB ({(pss - pss0) / args.clients:.0f} KiB a waiting "
                f"request); threads {threads0} -> {threads}; answered before their time: {early}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    kinds = ["gthread"] + (["asgi"] if importlib.util.find_spec("uvicorn") else [])
    lines = [asyncio.run(measure(kind, args)) for kind in kinds]
    if "asgi" not in kinds:
        lines.append("asgi: skipped (pip install uvicorn==0.54.0)")
    print(f"holding: load average {harness.LOAD_AT_START:.1f} at the start")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
