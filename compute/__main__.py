"""`python -m compute --url URL --token TOKEN --storage DIR [--shared-storage DIR] [--read-log FILE]
[--concurrency N] [--once] [--wait S]`."""

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from compute.api import Orchestrator
from compute.storage import DirectoryStorage, ReadLog, SiteStorage, Storage
from compute.worker import Worker

log = logging.getLogger("compute")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m compute", description=__doc__)
    env = os.environ.get
    parser.add_argument("--url", default=env("ORCHESTRATOR_URL"),
                        help="the Orchestrator's base URL (env ORCHESTRATOR_URL)")
    parser.add_argument("--token", default=env("ORCHESTRATOR_TOKEN"),
                        help="a compute client's API token (env ORCHESTRATOR_TOKEN)")
    parser.add_argument("--storage", default=env("COMPUTE_STORAGE"),
                        help="directory with one file per UUID (env COMPUTE_STORAGE); with "
                             "--shared-storage, the site's own files only")
    parser.add_argument("--shared-storage", default=env("COMPUTE_SHARED_STORAGE"),
                        help="for a worker of a site: the platform's directory of what travels between "
                             "sites (workflows, algos, test data, models), read after --storage and "
                             "written to (env COMPUTE_SHARED_STORAGE)")
    parser.add_argument("--read-log", default=env("COMPUTE_READ_LOG"),
                        help="append one line per object read to this file: its UUID and where it "
                             "was found (env COMPUTE_READ_LOG)")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks run at once (default 1)")
    parser.add_argument("--once", action="store_true", help="run until nothing is claimable, then exit")
    parser.add_argument("--wait", type=float, default=float(env("COMPUTE_WAIT", "60")),
                        help="when idle, seconds a learnuplet claim waits on the Orchestrator for one "
                             "(?wait=, 0 to 60, less up to 10%% of jitter; 0: poll) (env COMPUTE_WAIT, "
                             "default 60: about one request a minute while idle); a claimable preduplet "
                             "ends the wait at once (&interrupt=preduplet) and is claimed first")
    parser.add_argument("--idle-max", type=float, default=10.0,
                        help="longest wait between polls when the Orchestrator answers at once, in seconds "
                             "(default 10)")
    parser.add_argument("--heartbeat-seconds", type=float, default=None,
                        help="heartbeat period (default: a third of the lease granted)")
    parser.add_argument("--log-level", default=env("COMPUTE_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    for name in ("url", "token", "storage"):
        if not getattr(args, name):
            parser.error(f"--{name} (or its environment variable) is required")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if not 0 <= args.wait <= 60:
        parser.error("--wait must be between 0 and 60")
    if args.idle_max <= 0 or (args.heartbeat_seconds is not None and args.heartbeat_seconds <= 0):
        parser.error("--idle-max and --heartbeat-seconds must be positive")
    return args


def storage_of(args: argparse.Namespace) -> Storage:
    storage: Storage = DirectoryStorage(args.storage)
    if args.shared_storage:
        storage = SiteStorage(DirectoryStorage(args.storage), DirectoryStorage(args.shared_storage))
    return ReadLog(storage, args.read_log) if args.read_log else storage


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    # httpx logs every request at INFO: claims and heartbeats would drown what the worker says.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            # Second signal: leave now; the Orchestrator re-queues the tasks when their leases lapse.
            log.warning("exiting without finishing; running tasks will be given back")
            raise SystemExit(1)
        log.info("%s: finishing the running tasks, then exiting", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = Worker(
        Orchestrator(args.url, args.token), storage_of(args),
        concurrency=args.concurrency, once=args.once, idle_max=args.idle_max, wait=args.wait,
        heartbeat_seconds=args.heartbeat_seconds, stop=stop,
    )
    log.info("worker started: %s, storage %s%s, concurrency %d", args.url, args.storage,
             f" over {args.shared_storage}" if args.shared_storage else "", args.concurrency)
    code = worker.run()
    log.info("worker stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
