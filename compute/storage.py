"""Where the worker reads inputs and writes outputs: one object per UUID.

The Orchestrator only knows UUIDs; the bytes live on the platform's Storage. `Storage` is
the interface a backend implements; `DirectoryStorage` is a directory holding one file
per UUID (a local disk or a mounted share).
"""

import os
import tempfile
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
