"""gunicorn's settings for the Orchestrator, read by `gunicorn` from the working directory.

Claims and results are CPU-bound Python with short waits on PostgreSQL. Measured with
bench/claims.py on two cores (bench/README.md): one worker per core and one more, two
threads each to overlap those waits, and gthread's keep-alive (a TCP handshake less per
request) served the most cycles with the lowest latency; more threads per worker only
made requests wait for the GIL. `WEB_CONCURRENCY` sets the number of workers, `-b` the
address.
"""

import multiprocessing
import os

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
worker_class = "gthread"
threads = 2
keepalive = 30
timeout = 60
