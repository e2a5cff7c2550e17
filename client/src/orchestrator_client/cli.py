"""`orchestrator`: the client's calls from a shell.

    export ORCHESTRATOR_URL=http://127.0.0.1:8000 ORCHESTRATOR_TOKEN=<key>
    orchestrator problems create --workflow W --test-data T1 T2 --size 2
    orchestrator data register storage/hospital-a --problem P
    orchestrator algos create --problem P --name "logistic regression" --uuid A
    orchestrator watch A                     # a progress bar until the chain has ended
    orchestrator leaderboard P
    orchestrator predict --problem P D       # waits for the prediction

Tables for people; `--json` prints the API's JSON instead, for scripts. Exit status: 0,
1 when the Orchestrator refused or could not be reached (the reason on stderr, with its
field messages), 2 for a usage error, 3 when `watch` or `predict` ended with failed or
canceled tasks, 4 when a wait timed out.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from orchestrator_client.client import Client
from orchestrator_client.errors import ApiError, OrchestratorError, WaitTimeout
from orchestrator_client.files import canonical_uuid
from orchestrator_client.output import ProgressPrinter, table
from orchestrator_client.types import Preduplet

Command = Callable[[Client, argparse.Namespace, TextIO], int]

LEARNUPLET_COLUMNS = ("rank", "uuid", "status", "perf", "site")
ENDED_BADLY = 3
TIMED_OUT = 4


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.url or not args.token:
        parser.error("--url and --token (or ORCHESTRATOR_URL and ORCHESTRATOR_TOKEN) are required")
    command: Command = args.run
    try:
        with Client(args.url, args.token, timeout=args.http_timeout) as client:
            return command(client, args, sys.stdout)
    except WaitTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        return TIMED_OUT
    except ApiError as exc:
        if not exc.fields:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        # One field message a line, under the request they refused.
        print(f"error: {exc.what}: HTTP {exc.status}{': ' + exc.detail if exc.detail else ''}", file=sys.stderr)
        for field, messages in exc.fields.items():
            for message in messages:
                print(f"  {field}: {message}", file=sys.stderr)
        return 1
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a folder without data files, files without a storage
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    # On every command, so that options read naturally after it: `orchestrator leaderboard P --json`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=env("ORCHESTRATOR_URL"),
                        help="the Orchestrator's address, e.g. http://127.0.0.1:8000 (env ORCHESTRATOR_URL)")
    common.add_argument("--token", default=env("ORCHESTRATOR_TOKEN"), help="your API token (env ORCHESTRATOR_TOKEN)")
    common.add_argument("--json", action="store_true", help="print the API's JSON, for scripts")
    common.add_argument("--http-timeout", type=float, default=30.0, help="seconds each request may take (default 30)")

    parser = argparse.ArgumentParser(prog="orchestrator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group: Any, name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    problems = groups.add_parser("problems", help="register and list problems").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = command(problems, "create", problems_create, "register a problem")
    create.add_argument("--workflow", required=True, help="the workflow file's UUID on Storage")
    create.add_argument("--test-data", nargs="+", required=True, metavar="UUID", help="the secret test data")
    create.add_argument("--size", type=int, required=True, help="train data per learnuplet (size_train_dataset)")
    create.add_argument("--lower-is-better", action="store_true", help="the metric is an error, not a score")
    create.add_argument("--uuid", help="the problem's UUID (default: the Orchestrator picks one)")
    command(problems, "list", problems_list, "list the problems")

    algos = groups.add_parser("algos", help="register and list algos").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = command(algos, "create", algos_create, "register an algo: its chain of learnuplets starts")
    create.add_argument("--problem", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--uuid", help="the algo's UUID: its file's name on Storage (default: the Orchestrator picks one)")
    listing = command(algos, "list", algos_list, "list the algos")
    listing.add_argument("--problem")

    data = groups.add_parser("data", help="register and list data").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    register = command(data, "register", data_register,
                       "register a folder of data files, or data UUIDs; files not named by a UUID are "
                       "copied into --storage under new UUIDs first")
    register.add_argument("source", nargs="+", metavar="DIR_OR_UUID")
    register.add_argument("--problem", action="append", required=True, help="repeat for several problems")
    register.add_argument("--site", help="operators only: the site the data belong to")
    register.add_argument("--storage", type=Path, help="the Storage directory to copy files not named by a UUID into")
    listing = command(data, "list", data_list, "list the data")
    listing.add_argument("--problem")

    for kind, run in (("learnuplets", learnuplets_list), ("preduplets", preduplets_list)):
        listing = command(groups.add_parser(kind, help=f"list {kind}").add_subparsers(
            dest="action", required=True, metavar="ACTION"), "list", run, f"list {kind}")
        listing.add_argument("--problem")
        listing.add_argument("--status", help="one status or several, comma-separated: todo,pending")
        if kind == "learnuplets":
            listing.add_argument("--algo")
            listing.add_argument("--rank", type=int)

    board = command(groups, "leaderboard", leaderboard, "a problem's algos, best first")
    board.add_argument("problem")
    curve = command(groups, "curve", learning_curve, "a problem's learning curve: perf by rank, per algo")
    curve.add_argument("problem")

    watch = command(groups, "watch", watch_chain, "follow an algo's chain until every learnuplet has ended")
    watch.add_argument("algo")
    watch.add_argument("--timeout", type=float, help="give up after this many seconds (exit status 4)")

    predict = command(groups, "predict", predict_data, "request a prediction and wait for it")
    predict.add_argument("data", nargs="+", metavar="DATA_UUID")
    predict.add_argument("--problem", required=True)
    predict.add_argument("--model", help="a trained model of the problem (default: its best)")
    predict.add_argument("--no-wait", action="store_true", help="print the request and return")
    predict.add_argument("--timeout", type=float, help="give up waiting after this many seconds (exit status 4)")

    cancel = command(groups, "cancel", cancel_work, "cancel an algo's learnuplets, a learnuplet or a preduplet")
    target = cancel.add_mutually_exclusive_group(required=True)
    target.add_argument("--algo")
    target.add_argument("--learnuplet")
    target.add_argument("--preduplet")
    cancel.add_argument("--reason", default="")
    return parser


def emit(args: argparse.Namespace, out: TextIO, document: Any, people: Callable[[], object]) -> None:
    if args.json:
        json.dump(document, out, indent=2, default=str)
        out.write("\n")
    else:
        people()


def problems_create(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    problem = client.problems.create(workflow=args.workflow, test_dataset=args.test_data,
                                     size_train_dataset=args.size, higher_is_better=not args.lower_is_better,
                                     uuid=args.uuid)
    emit(args, out, problem, lambda: out.write(f"problem {problem['uuid']} registered\n"))
    return 0


def problems_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = list(client.problems.list())
    emit(args, out, found, lambda: table(found, ("uuid", "size_train_dataset", "higher_is_better", "priority",
                                                 "timestamp_upload"), out))
    return 0


def algos_create(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    algo = client.algos.create(problem=args.problem, name=args.name, uuid=args.uuid)
    emit(args, out, algo, lambda: out.write(
        f"algo {algo['uuid']} registered: {algo.get('new_learnuplets', 0)} new learnuplets\n"))
    return 0


def algos_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = list(client.algos.list(problem=args.problem))
    emit(args, out, found, lambda: table(found, ("uuid", "name", "problem", "timestamp_upload"), out))
    return 0


def data_register(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    folders = [s for s in args.source if canonical_uuid(s) is None]
    if folders and len(args.source) > 1:
        raise ValueError("give one folder, or data UUIDs: not both, nor several folders")
    source: Any = Path(folders[0]) if folders else args.source
    registered = client.data.register(source, problems=args.problem, site=args.site, storage=args.storage)
    document = {"data": registered.data, "new_learnuplets": registered.new_learnuplets,
                "files": {str(path): key for path, key in registered.files.items()}}

    def people() -> None:
        out.write(f"{len(registered.data)} data registered: {registered.new_learnuplets} new learnuplets\n")
        if registered.files:
            table([{"file": str(p), "uuid": k} for p, k in registered.files.items()], ("file", "uuid"), out)

    emit(args, out, document, people)
    return 0


def data_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = list(client.data.list(problem=args.problem))
    emit(args, out, found, lambda: table(found, ("uuid", "site", "timestamp_upload"), out))
    return 0


def learnuplets_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = list(client.learnuplets.list(problem=args.problem, algo=args.algo, status=args.status, rank=args.rank))
    emit(args, out, found, lambda: table(found, ("uuid", "algo", "rank", "status", "perf", "site"), out))
    return 0


def preduplets_list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = list(client.preduplets.list(problem=args.problem, status=args.status))
    emit(args, out, found, lambda: table(found, ("uuid", "status", "model", "prediction_storage_uuid"), out))
    return 0


def leaderboard(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    rows = client.leaderboard(args.problem)
    placed = [{"#": place, **row} for place, row in enumerate(rows, start=1)]
    emit(args, out, rows, lambda: table(placed, ("#", "name", "perf", "rank", "done", "failed", "total", "algo"),
                                        out, {"rank": "best rank"}))
    return 0


def learning_curve(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    curves = client.learning_curve(args.problem)

    def people() -> None:
        for curve in curves:
            points = " ".join(f"{rank}:{perf:.4f}" for rank, perf in curve.points) or "no rank done yet"
            out.write(f"{curve.name} ({curve.algo}): {points}\n")

    emit(args, out, [asdict(curve) for curve in curves], people)
    return 0


def watch_chain(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    # The bar goes to stderr: stdout keeps only the result, for a pipe or a file.
    bar = ProgressPrinter(sys.stderr)
    try:
        chain = client.wait_for_chain(args.algo, timeout=args.timeout, on_progress=bar)
    finally:
        bar.finish()
    emit(args, out, chain, lambda: table(chain, LEARNUPLET_COLUMNS, out))
    return 0 if all(task["status"] == "done" for task in chain) else ENDED_BADLY


def predict_data(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    preduplet = client.predict(args.problem, args.data, model=args.model)
    if not args.no_wait:
        print(f"prediction {preduplet['uuid']} requested; waiting for it", file=sys.stderr)
        preduplet = client.wait_for_prediction(preduplet["uuid"], timeout=args.timeout)
    emit(args, out, preduplet, lambda: _show_prediction(preduplet, out))
    return ENDED_BADLY if preduplet["status"] in ("failed", "canceled") else 0


def _show_prediction(preduplet: Preduplet, out: TextIO) -> None:
    out.write(f"prediction {preduplet['uuid']}: {preduplet['status']} (model {preduplet['model']})\n")
    for key in preduplet["prediction_storage_uuid"]:
        out.write(f"  output {key}\n")
    if preduplet["last_error"]:
        out.write(f"  error: {preduplet['last_error']}\n")


def cancel_work(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    canceled = client.cancel(algo=args.algo, learnuplet=args.learnuplet, preduplet=args.preduplet, reason=args.reason)
    emit(args, out, {"canceled": canceled}, lambda: out.write(f"{canceled} canceled\n"))
    return 0
