"""`manage.py demo` end to end: its own server, two sites each with its own worker process,
real training."""

import io
import re
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import ApiClient, Site
from compute.storage import read_log
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Data
from tasks.models import Status, TaskEvent


def files_in(directory: Path) -> set[uuid.UUID]:
    return {uuid.UUID(p.name) for p in directory.iterdir() if not p.name.startswith(".")}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_trains_at_two_sites_crosses_them_and_predicts_in_under_a_minute(tmp_path):
    out = io.StringIO()
    started = time.monotonic()
    call_command("demo", "--dir", str(tmp_path), "--timeout", "50", stdout=out)
    assert time.monotonic() - started < 60
    text = out.getvalue()
    assert "learnuplets: 24 done" in text
    assert Learnuplet.objects.filter(status=Status.DONE).count() == 24

    # Two sites, each with a client and a compute worker; 12 learnuplets each.
    a, b = Site.objects.order_by("name")
    assert a.name.startswith("hospital-a-") and b.name.startswith("hospital-b-")
    worker_site: dict[uuid.UUID | None, uuid.UUID | None] = dict(ApiClient.objects.filter(role="compute").values_list("worker", "site"))
    assert sorted(map(str, worker_site.values())) == sorted(map(str, [a.uuid, b.uuid]))
    assert {s: Learnuplet.objects.filter(site=s).count() for s in (a, b)} == {a: 12, b: 12}
    data_site = dict(Data.objects.values_list("uuid", "site"))
    for lu in Learnuplet.objects.all():
        assert {data_site[d] for d in lu.train_data} == {lu.site_id}
    # Every claim, of every attempt, by a worker of the task's site.
    task_site = {**dict(Learnuplet.objects.values_list("uuid", "site")),
                 **dict(Preduplet.objects.values_list("uuid", "site"))}
    claims = TaskEvent.objects.filter(to_status=Status.PENDING)
    assert claims.count() >= 25
    for event in claims:
        assert worker_site[event.worker] == task_site[event.task]

    # Each worker's read log: none of the other site's files (those in its directory), all of its own training files.
    storage, logs = tmp_path / "storage", tmp_path / "logs"
    own = {"hospital-a": files_in(storage / "hospital-a"), "hospital-b": files_in(storage / "hospital-b")}
    assert len(own["hospital-a"]) == 4 and len(own["hospital-b"]) == 5  # b's file to predict
    for label, other, site in (("hospital-a", "hospital-b", a), ("hospital-b", "hospital-a", b)):
        reads = read_log(logs / f"reads-{label}.log")
        assert {key for key, _ in reads}.isdisjoint(own[other])
        assert set(Data.objects.filter(site=site).values_list("uuid", flat=True)) <= {key for key, _ in reads}
        assert {Path(where).parent for _, where in reads} == {storage / label, storage / "shared"}
    assert "site check passed: no worker opened a file of the other site" in text
    assert "hospital-a's worker opened 4 of its site's 4 files, 0 of the other site's 5" in text
    assert "hospital-b's worker opened 5 of its site's 5 files, 0 of the other site's 4" in text

    # The chain crosses sites: the printed rank at b started from the printed rank's model at a.
    crossing = re.search(r"the chain crosses sites: rank (\d+) at hospital-b started from the model of "
                         r"rank (\d+), trained at hospital-a", text)
    assert crossing is not None
    sgd = Learnuplet.objects.filter(algo__name="SGD logistic regression")
    later, earlier = sgd.get(rank=int(crossing[1])), sgd.get(rank=int(crossing[2]))
    assert (later.site_id, earlier.site_id) == (b.uuid, a.uuid)
    assert later.model_start == earlier.model_end

    # The prediction ran at hospital b, on its file, and wrote to the shared Storage.
    (preduplet,) = Preduplet.objects.all()
    assert preduplet.site_id == b.uuid and worker_site[preduplet.worker] == b.uuid
    assert set(preduplet.data) <= own["hospital-b"]
    (result,) = preduplet.prediction_storage_uuid
    written = re.search(r"predictions written to (\S+):", text)
    assert written is not None
    assert Path(written[1]) == storage / "shared" / str(result)
    assert (storage / "shared" / str(result)).read_text().startswith("prediction\n")
