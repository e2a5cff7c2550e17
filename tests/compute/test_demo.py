"""`manage.py demo` end to end: its own server, two worker processes, real training."""

import io
import re
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from learning.models import Learnuplet
from predictions.models import Preduplet
from tasks.models import Status


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_trains_ranks_and_predicts_in_under_a_minute(tmp_path):
    out = io.StringIO()
    started = time.monotonic()
    call_command("demo", "--dir", str(tmp_path), "--timeout", "50", stdout=out)
    assert time.monotonic() - started < 60
    text = out.getvalue()
    assert "learnuplets: 24 done" in text
    assert Learnuplet.objects.filter(status=Status.DONE).count() == 24
    (preduplet,) = Preduplet.objects.all()
    (result,) = preduplet.prediction_storage_uuid
    written = re.search(r"predictions written to (\S+):", text)
    assert written is not None
    assert Path(written[1]) == tmp_path / "storage" / str(result)
    assert (tmp_path / "storage" / str(result)).read_text().startswith("prediction\n")
