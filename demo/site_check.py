"""After the demo: did any compute worker touch another site's data?

Two witnesses that do not depend on each other. The database: every claim of every task
(each attempt's claim event, not only the last worker) was made by a worker of the task's
site, and every learnuplet trained on data of that site. The workers' own read logs
(`python -m compute --read-log`): no worker tried to open a file of another hospital, found
anything outside its own directory and the shared one, or missed any of its own training files.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.management.base import CommandError
from orchestrator_client import Client

from accounts.models import ApiClient
from compute.storage import DirectoryStorage, read_log
from learning.models import Learnuplet
from predictions.models import Preduplet
from problems.models import Data
from tasks.models import Status, TaskEvent


@dataclass
class Hospital:
    """One site of the demo: its accounts, its directory, its private files."""

    label: str
    site: str
    site_uuid: uuid.UUID
    client: Client
    compute_token: str
    storage: DirectoryStorage
    read_log: Path
    train: list[uuid.UUID] = field(default_factory=list)
    to_predict: uuid.UUID | None = None

    @property
    def files(self) -> set[uuid.UUID]:
        return {*self.train, *([self.to_predict] if self.to_predict else [])}


def check_sites(*, problem: uuid.UUID, preduplet: uuid.UUID, hospitals: list[Hospital], shared: Path,
                test: list[uuid.UUID], step: Callable[[str], None], say: Callable[[str], None]) -> None:
    """Print what was checked; CommandError naming each breach when there is one."""
    label: dict[uuid.UUID | None, str] = {h.site_uuid: h.label for h in hospitals}
    sites = _database(problem, preduplet, label)
    step(f"site check, the database: {sum(sites.values())} learnuplets, each claimed only by compute "
         f"workers of its site and trained on that site's files only "
         f"({', '.join(f'{n} at {site}' for site, n in sorted(sites.items()))}); "
         f"the prediction ran at {_site_of_preduplet(preduplet, label)}, by its worker")
    step("site check, the workers' read logs:")
    breaches = []
    for hospital in hospitals:
        line, wrong = _reads(hospital, [h for h in hospitals if h is not hospital], shared, set(test))
        say(f"    {line}")
        breaches += wrong
    if breaches:
        raise CommandError("site check failed, in the workers' read logs:\n  " + "\n  ".join(breaches))
    step("site check passed: no worker opened a file of the other site")


def _site_of_preduplet(preduplet: uuid.UUID, label: dict[uuid.UUID | None, str]) -> str:
    site = Preduplet.objects.values_list("site_id", flat=True).get(uuid=preduplet)
    return label.get(site, "platform")


def _database(problem: uuid.UUID, preduplet: uuid.UUID, label: dict[uuid.UUID | None, str]) -> Counter[str]:
    """Learnuplets by site; CommandError when a claim or a datum is of another site."""
    learnuplets = list(Learnuplet.objects.filter(problem_id=problem).values_list(
        "uuid", "rank", "site_id", "status", "train_data"))
    site_of_task: dict[uuid.UUID, uuid.UUID | None] = {lu[0]: lu[2] for lu in learnuplets}
    site_of_task[preduplet] = Preduplet.objects.values_list("site_id", flat=True).get(uuid=preduplet)
    claims = list(TaskEvent.objects.filter(task__in=site_of_task, to_status=Status.PENDING)
                  .values_list("kind", "task", "attempt", "worker"))
    site_of_worker: dict[uuid.UUID | None, uuid.UUID | None] = dict(ApiClient.objects.filter(worker__in={c[3] for c in claims})
                          .values_list("worker", "site_id"))
    site_of_data = dict(Data.objects.filter(uuid__in={d for lu in learnuplets for d in lu[4]})
                        .values_list("uuid", "site_id"))
    wrong = []
    for uuid_, rank, site, status, train in learnuplets:
        if site not in label:
            wrong.append(f"learnuplet {uuid_} (rank {rank}) belongs to {site}, not to a hospital")
        if status != Status.DONE:
            wrong.append(f"learnuplet {uuid_} (rank {rank}) is {status}")
        if any(site_of_data.get(d) != site for d in train):
            wrong.append(f"learnuplet {uuid_} (rank {rank}) trains on data of another site")
    if site_of_task[preduplet] not in label:
        wrong.append(f"preduplet {preduplet} belongs to {site_of_task[preduplet]}, not to a hospital")
    for kind, task, attempt, worker in claims:
        if site_of_worker.get(worker) != site_of_task[task]:
            wrong.append(f"{kind} {task} (attempt {attempt}) of {label.get(site_of_task[task])} was claimed "
                         f"by worker {worker} of {label.get(site_of_worker.get(worker))}")
    if not claims:
        wrong.append("no claim recorded")
    if wrong:
        raise CommandError("site check failed, in the database:\n  " + "\n  ".join(wrong))
    return Counter(label[lu[2]] for lu in learnuplets)


def _reads(hospital: Hospital, others: list[Hospital], shared: Path, test: set[uuid.UUID]) -> tuple[str, list[str]]:
    """What the hospital's worker opened, and each breach."""
    entries = read_log(hospital.read_log)
    theirs: set[uuid.UUID] = set().union(*(o.files for o in others))
    tried = {key for key, _ in entries}
    opened = {key for key, where in entries if where != "missing"}
    wrong = [f"{hospital.label}'s worker tried to open {key}, a file of another site"
             for key in sorted(tried & theirs, key=str)]
    allowed = {hospital.storage.root.resolve(), shared.resolve()}
    wrong += [f"{hospital.label}'s worker read {where}, outside its directory and the shared one"
              for where in sorted({w for _, w in entries if w != "missing"}) if Path(where).parent.resolve() not in allowed]
    # A worker that trained on its files but logged none of them: the log is not a witness.
    wrong += [f"{hospital.label}'s worker did not log opening its own training file {key}"
              for key in sorted(set(hospital.train) - opened, key=str)]
    own = opened & hospital.files
    line = (f"{hospital.label}'s worker opened {len(own)} of its site's {len(hospital.files)} files, "
            f"{len(tried & theirs)} of the other site's {len(theirs)}, {len(opened & test)} of the "
            f"{len(test)} secret test files and {len(opened - hospital.files - test)} other shared objects "
            f"(workflow, algos, models); {len(entries)} reads in {hospital.read_log}")
    return line, wrong
