"""Where the worker reads inputs and writes outputs: one object per UUID.

The Orchestrator only knows UUIDs; the bytes live on the platform's Storage. `Storage` is
the interface a backend implements; `DirectoryStorage` is a directory holding one file
per UUID (a local disk or a mounted share). A worker of a site reads through `SiteStorage`:
the site's own directory (its private training data) over the platform's shared one.
`ReadLog` records what a worker opened, for an audit of data locality.
"""

import os
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from pathlib import Path


class MissingObject(Exception):
    """No object with that UUID on Storage."""


class Storage(ABC):
    @abstractmethod
    def read(self, key: uuid.UUID) -> bytes:
        """The object's bytes; MissingObject when there is none."""

    @abstractmethod
    def write(self, key: uuid.UUID, content: bytes) -> None:
        """Store `content` under `key`, replacing any previous object, atomically."""

    @abstractmethod
    def locate(self, key: uuid.UUID) -> str:
        """Where a person finds the object (a path or a URL), for logs and the demo."""


class DirectoryStorage(Storage):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: uuid.UUID) -> Path:
        # str(UUID) is canonical: a key can never name a path outside the root.
        return self.root / str(uuid.UUID(str(key)))

    def read(self, key: uuid.UUID) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise MissingObject(f"no object {key} in storage {self.root}") from None

    def write(self, key: uuid.UUID, content: bytes) -> None:
        # Write then rename: a reader (or a worker killed mid-write) never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.replace(tmp, self._path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def locate(self, key: uuid.UUID) -> str:
        return str(self._path(key))


class SiteStorage(Storage):
    """A site's view of Storage: its own directory, read first, holds the site's private
    files (its training data, its files to predict) and is never written; the platform's
    shared directory holds what travels between sites (workflows, algos, test data, models)
    and receives everything the worker writes, so that a model trained here can be the next
    rank's start at another site."""

    def __init__(self, own: DirectoryStorage, shared: DirectoryStorage) -> None:
        self.own, self.shared = own, shared

    def read(self, key: uuid.UUID) -> bytes:
        try:
            return self.own.read(key)
        except MissingObject:
            pass
        try:
            return self.shared.read(key)
        except MissingObject:
            raise MissingObject(f"no object {key} in storage {self.own.root} nor in "
                                f"{self.shared.root}") from None

    def write(self, key: uuid.UUID, content: bytes) -> None:
        self.shared.write(key, content)

    def locate(self, key: uuid.UUID) -> str:
        own = self.own.locate(key)
        return own if Path(own).exists() else self.shared.locate(key)


class ReadLog(Storage):
    """Another Storage, and a file with one line per object the worker tried to read: its
    UUID, a tab, and where it was found, or `missing`. Appended as each read happens, so
    the record survives a worker that is killed."""

    def __init__(self, storage: Storage, path: str | os.PathLike[str]) -> None:
        self.storage, self.path = storage, Path(path)
        # One line per write, under a lock: the worker's threads read side by side.
        self._lock = threading.Lock()

    def read(self, key: uuid.UUID) -> bytes:
        try:
            content = self.storage.read(key)
        except MissingObject:
            self._record(key, "missing")
            raise
        self._record(key, self.storage.locate(key))
        return content

    def _record(self, key: uuid.UUID, where: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as log:
            log.write(f"{key}\t{where}\n")

    def write(self, key: uuid.UUID, content: bytes) -> None:
        self.storage.write(key, content)

    def locate(self, key: uuid.UUID) -> str:
        return self.storage.locate(key)


def read_log(path: str | os.PathLike[str]) -> list[tuple[uuid.UUID, str]]:
    """The lines of a ReadLog's file: (UUID, where it was found or `missing`), in order;
    none when there is no file (the worker read nothing)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        key, _, where = line.partition("\t")
        entries.append((uuid.UUID(key), where))
    return entries
