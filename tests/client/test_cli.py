"""The `orchestrator` command as a user types it (issue 19): the installed script in a
subprocess, ORCHESTRATOR_URL and ORCHESTRATOR_TOKEN in its environment, a live server,
its output read."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from compute.api import PREDUPLET
from learning.models import Learnuplet
from problems.models import Data
from tasks.models import Status
from tests.client.support import uuids, work

pytestmark = pytest.mark.django_db(transaction=True)

ORCHESTRATOR = Path(sys.executable).parent / "orchestrator"  # the console script pip installed


def environment(url: str, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "DJANGO_", "PYTEST"))}
    env["ORCHESTRATOR_URL"] = url
    if token is not None:
        env["ORCHESTRATOR_TOKEN"] = token
    return env


class Shell:
    """Runs `orchestrator ...` as one user."""

    def __init__(self, url: str, token: str | None) -> None:
        self.env = environment(url, token)

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(ORCHESTRATOR), *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(ORCHESTRATOR), *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture
def shell(live_server, uploader) -> Shell:
    return Shell(live_server.url, uploader.token)


def a_problem(shell: Shell, size: int = 1) -> str:
    problem: str = shell.json("problems", "create", "--workflow", str(uuid.uuid4()), "--test-data", *uuids(2),
                              "--size", str(size))["uuid"]
    return problem


def test_a_user_registers_a_problem_a_folder_of_data_and_an_algo(shell: Shell, tmp_path: Path):
    created = shell.run("problems", "create", "--workflow", str(uuid.uuid4()), "--test-data", *uuids(2),
                        "--size", "2", "--uuid", str(uuid.UUID(int=1)))
    problem = str(uuid.UUID(int=1))
    assert created.stdout == f"problem {problem} registered\n"
    for name in uuids(4):
        (tmp_path / name).write_text("rows")

    registered = shell.run("data", "register", str(tmp_path), "--problem", problem)
    algo = shell.run("algos", "create", "--problem", problem, "--name", "logistic regression")
    listed = shell.json("learnuplets", "list", "--problem", problem)

    assert registered.stdout.splitlines()[0] == "4 data registered: 0 new learnuplets"
    assert Data.objects.count() == 4
    assert algo.stdout.startswith("algo ") and algo.stdout.endswith(" registered: 2 new learnuplets\n")
    assert sorted((t["rank"], t["status"]) for t in listed) == [(0, "todo"), (1, "waiting")]
    table = shell.run("problems", "list").stdout.splitlines()
    assert table[0].split() == ["uuid", "size_train_dataset", "higher_is_better", "priority", "timestamp_upload"]
    assert table[1].split()[:4] == [problem, "2", "yes", "0"]


def test_files_not_named_by_uuid_are_copied_into_storage_and_listed(shell: Shell, tmp_path: Path):
    problem = a_problem(shell)
    scans, storage = tmp_path / "scans", tmp_path / "storage"
    scans.mkdir()
    (scans / "a.csv").write_text("a")

    done = shell.run("data", "register", str(scans), "--storage", str(storage), "--problem", problem)

    lines = done.stdout.splitlines()
    assert lines[0] == "1 data registered: 0 new learnuplets"
    assert lines[1].split() == ["file", "uuid"]
    path, key = lines[2].split()
    assert path == str(scans / "a.csv") and (storage / key).read_text() == "a"


def test_watch_draws_its_progress_and_ends_when_the_chain_is_done(live_server, shell: Shell, worker):
    problem = a_problem(shell)
    shell.run("data", "register", *uuids(3), "--problem", problem)
    algo = shell.json("algos", "create", "--problem", problem, "--name", "sgd")["uuid"]

    watching = shell.start("watch", algo)
    assert watching.stderr is not None
    first = watching.stderr.readline()  # watching, before the work starts
    work(live_server.url, worker.token, tasks=3, seconds=0.2, perf=lambda n: [0.6, 0.8, 0.7][n])
    out, err = watching.communicate(timeout=30)

    assert watching.returncode == 0, err
    progress = [first.rstrip("\n"), *err.splitlines()]
    assert progress[0] == "[------------------------------] 0/3 ended: 1 todo, 2 waiting"
    assert len(progress) >= 3  # a line per change, in a pipe
    assert progress[-1] == "[##############################] 3/3 ended: 3 done"
    lines = out.splitlines()
    assert lines[0].split() == ["rank", "uuid", "status", "perf", "site"]
    assert [line.split()[0::2] for line in lines[1:]] == [["0", "done", "-"], ["1", "done", "-"], ["2", "done", "-"]]
    assert [line.split()[3] for line in lines[1:]] == ["0.6000", "0.8000", "0.7000"]

    board = shell.run("leaderboard", problem).stdout.splitlines()
    assert board[0].split() == ["#", "name", "perf", "best", "rank", "done", "failed", "total", "algo"]
    assert board[1].split() == ["1", "sgd", "0.8000", "1", "3", "0", "3", algo]
    assert shell.run("curve", problem).stdout == f"sgd ({algo}): 0:0.6000 1:0.8000 2:0.7000\n"
    assert shell.json("leaderboard", problem)[0]["perf"] == 0.8


def test_watch_gives_up_after_its_timeout(shell: Shell):
    problem = a_problem(shell)
    shell.run("data", "register", *uuids(1), "--problem", problem)
    algo = shell.json("algos", "create", "--problem", problem, "--name", "sgd")["uuid"]

    done = shell.run("watch", algo, "--timeout", "1", code=4)

    assert "not ended within 1 s: 1 todo" in done.stderr


def test_predict_waits_for_the_prediction_and_prints_its_outputs(live_server, shell: Shell, worker):
    problem = a_problem(shell)
    shell.run("data", "register", *uuids(1), "--problem", problem)
    shell.run("algos", "create", "--problem", problem, "--name", "sgd")
    work(live_server.url, worker.token, tasks=1)

    predicting = shell.start("predict", "--problem", problem, *uuids(1))
    (done,) = work(live_server.url, worker.token, tasks=1, kind=PREDUPLET)
    out, err = predicting.communicate(timeout=30)

    assert predicting.returncode == 0, err
    assert err == f"prediction {done} requested; waiting for it\n"
    first, output = out.splitlines()
    assert first.startswith(f"prediction {done}: done (model ")
    assert output.startswith("  output ")
    asked = shell.json("predict", "--problem", problem, "--no-wait", *uuids(1))
    assert asked["status"] == "todo"


def test_cancel_says_how_many_tasks_it_canceled(shell: Shell):
    problem = a_problem(shell)
    shell.run("data", "register", *uuids(2), "--problem", problem)
    algo = shell.json("algos", "create", "--problem", problem, "--name", "sgd")["uuid"]

    assert shell.run("cancel", "--algo", algo, "--reason", "wrong rate").stdout == "2 canceled\n"
    assert set(Learnuplet.objects.values_list("status", flat=True)) == {Status.CANCELED}


def test_a_refusal_prints_the_api_field_messages_and_exits_1(shell: Shell):
    done = shell.run("problems", "create", "--workflow", "nope", "--test-data", *uuids(1), "--size", "0", code=1)

    lines = done.stderr.splitlines()
    assert lines[0] == "error: POST problems/: HTTP 400"
    assert any(line.startswith("  size_train_dataset: ") for line in lines[1:])
    assert any(line.startswith("  workflow: ") for line in lines[1:])
    assert done.stdout == ""


def test_without_a_token_it_says_what_is_missing(live_server):
    done = Shell(live_server.url, None).run("leaderboard", str(uuid.uuid4()), code=2)

    assert "--url and --token (or ORCHESTRATOR_URL and ORCHESTRATOR_TOKEN) are required" in done.stderr


def test_an_unknown_token_is_refused(live_server):
    done = Shell(live_server.url, "not-a-token").run("problems", "list", code=1)

    assert done.stderr.startswith("error: GET problems/: HTTP 401")
