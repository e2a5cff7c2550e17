"""The benchmarks keep working: each runs at tiny sizes (`--quick`) and prints its figures.

No timing is asserted; the figures themselves are recorded in bench/README.md. Each
benchmark creates and drops its own database on the server DATABASE_URL names.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_quick(script: str, *options: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.mark.slow
def test_it_runs_the_generation_benchmark() -> None:
    out = run_quick("generation.py")
    assert "learnuplets/s:" in out
    assert "server peak RSS:" in out
    assert out.strip().splitlines()[-1].startswith("ratio to baseline:")


@pytest.mark.slow
def test_it_runs_the_generation_benchmark_with_sites() -> None:
    out = run_quick("generation.py", "--sites", "5")
    # Every site's data in the algos' chains, none mixed (the script checks the batches).
    assert "over 200 data of 5 site(s)" in out
    assert out.strip().splitlines()[-1].startswith("ratio to baseline:")


@pytest.mark.slow
def test_it_runs_the_claims_benchmark_with_sites() -> None:
    out = run_quick("claims.py", "--sites", "3")
    assert "HTTP duplicates: 0 in client records, 0 in tasks_taskevent" in out
    assert "lost: 0" in out
    assert "HTTP claimed by a worker of another site: 0 tasks held, 0 claim events" in out
    assert "0 claimed across sites (met)" in out


@pytest.mark.slow
def test_it_runs_the_claims_benchmark() -> None:
    out = run_quick("claims.py")
    assert "HTTP duplicates: 0 in client records, 0 in tasks_taskevent" in out
    assert "lost: 0" in out
    assert out.strip().splitlines()[-1].startswith("ratio to baseline:")


@pytest.mark.slow
def test_it_runs_the_lists_benchmark() -> None:
    out = run_quick("lists.py")
    assert "status=done&algo=<algo>" in out
    assert out.strip().splitlines()[-1].startswith("ratio to baseline:")


@pytest.mark.slow
def test_it_runs_the_dispatch_benchmark() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dispatch.py"), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=420,  # three phases, two servers
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    out = result.stdout
    assert "(a) waiting (6 workers, ?wait=60, keyed): result to next claim p50" in out
    assert "over 20 releases" in out
    assert "(b) 30 idle workers, first waits spread, waiting claims alone" in out
    assert "(b) 30 idle workers, first waits spread, as the reference worker idles" in out
    assert out.count("idle workers' errors: 0") == 2
    assert "the idle workers' own server CPU (less the probe alone's)" in out
    assert "POST /api/v1/learnuplets/claim/?wait=S" in out  # the server's own counts, by path
    assert "(c) two instances" in out
    assert out.strip().splitlines()[-1].startswith("ratio to baseline:")
