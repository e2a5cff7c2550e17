"""The worker's Storage for a site: its own directory over the shared one, and its read log."""

import threading
import uuid

import pytest

from compute.__main__ import parse_args, storage_of
from compute.storage import DirectoryStorage, MissingObject, ReadLog, SiteStorage, read_log


@pytest.fixture
def own(tmp_path):
    return DirectoryStorage(tmp_path / "hospital-a")


@pytest.fixture
def shared(tmp_path):
    return DirectoryStorage(tmp_path / "shared")


def test_it_reads_the_sites_own_files_then_the_shared_ones(own, shared):
    private, model = uuid.uuid4(), uuid.uuid4()
    own.write(private, b"rows of hospital a")
    shared.write(model, b"a model")
    site = SiteStorage(own, shared)
    assert site.read(private) == b"rows of hospital a"
    assert site.read(model) == b"a model"
    assert site.locate(private) == own.locate(private)
    assert site.locate(model) == shared.locate(model)


def test_it_names_both_directories_when_an_object_is_in_neither(own, shared):
    with pytest.raises(MissingObject, match=f"{own.root}.*{shared.root}"):
        SiteStorage(own, shared).read(uuid.uuid4())


def test_it_writes_outputs_to_the_shared_directory_only(own, shared):
    # Models travel: the next rank may run at another site.
    model = uuid.uuid4()
    SiteStorage(own, shared).write(model, b"a model")
    assert shared.read(model) == b"a model"
    assert list(own.root.iterdir()) == []


def test_it_logs_each_read_with_where_it_was_found_or_missing(own, shared, tmp_path):
    private, model, absent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    own.write(private, b"rows")
    shared.write(model, b"a model")
    storage = ReadLog(SiteStorage(own, shared), tmp_path / "reads.log")
    storage.read(private)
    storage.read(model)
    with pytest.raises(MissingObject):
        storage.read(absent)
    storage.write(uuid.uuid4(), b"an output")  # writes are not reads
    assert read_log(tmp_path / "reads.log") == [
        (private, own.locate(private)), (model, shared.locate(model)), (absent, "missing"),
    ]


def test_its_log_is_empty_when_nothing_was_read(tmp_path):
    assert read_log(tmp_path / "never-written.log") == []


def test_its_log_keeps_whole_lines_under_concurrent_reads(own, tmp_path):
    keys = [uuid.uuid4() for _ in range(8)]
    for key in keys:
        own.write(key, b"x")
    storage = ReadLog(own, tmp_path / "reads.log")
    threads = [threading.Thread(target=lambda: [storage.read(k) for k in keys * 25]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = read_log(tmp_path / "reads.log")
    assert len(entries) == 8 * 8 * 25
    assert {key for key, _ in entries} == set(keys)


def test_the_cli_builds_a_sites_storage_and_its_log(tmp_path):
    args = parse_args(["--url", "http://x", "--token", "t", "--storage", str(tmp_path / "own"),
                       "--shared-storage", str(tmp_path / "shared"), "--read-log", str(tmp_path / "reads.log")])
    storage = storage_of(args)
    assert isinstance(storage, ReadLog) and isinstance(storage.storage, SiteStorage)
    assert storage.storage.own.root == tmp_path / "own"
    assert storage.storage.shared.root == tmp_path / "shared"
    plain = storage_of(parse_args(["--url", "http://x", "--token", "t", "--storage", str(tmp_path)]))
    assert isinstance(plain, DirectoryStorage)
