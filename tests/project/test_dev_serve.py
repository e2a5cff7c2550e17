"""`scripts/dev.py serve`: the operator's login is printed for the address it serves on."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("DJANGO_DEBUG", "1")  # serve sets it; restored after the test
    return module


@pytest.mark.parametrize("args, url", [
    ([], "http://127.0.0.1:8000"),
    (["9000"], "http://127.0.0.1:9000"),
    (["0.0.0.0:9000"], "http://127.0.0.1:9000"),
    (["0:9000"], "http://127.0.0.1:9000"),
    (["localhost:9001", "--noreload"], "http://localhost:9001"),
    (["--noreload"], "http://127.0.0.1:8000"),
    (["-6", "9000"], "http://[::1]:9000"),
    (["[::]:9000"], "http://[::1]:9000"),
])
def test_serve_passes_the_address_it_serves_on_to_ensure_operator(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch, args: list[str], url: str
) -> None:
    managed: list[tuple[str, ...]] = []
    served: list[list[str]] = []
    monkeypatch.setattr(dev, "manage", lambda *a: managed.append(a))

    def run_until_signal(cmd: list[str]) -> int:
        served.append(cmd)
        return 0

    monkeypatch.setattr(dev, "run_until_signal", run_until_signal)

    assert dev.serve(args) == 0

    assert ("ensure_operator", "--url", url) in managed
    assert served[0][2:] == ["runserver", *(args or ["127.0.0.1:8000"])]


def test_serve_runs_the_push_dispatcher_beside_the_server_when_a_compute_is_set(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dev, "manage", lambda *a: None)
    served: list[tuple[list[str], ...]] = []

    def run_until_signal(*cmds: list[str]) -> int:
        served.append(cmds)
        return 0

    monkeypatch.setattr(dev, "run_until_signal", run_until_signal)

    monkeypatch.delenv("ORCHESTRATOR_COMPUTE_URL", raising=False)
    dev.serve([])
    monkeypatch.setenv("ORCHESTRATOR_COMPUTE_URL", "http://127.0.0.1:8081")
    dev.serve([])

    assert [[cmd[2] for cmd in cmds] for cmds in served] == [["runserver"], ["runserver", "push_compute"]]
