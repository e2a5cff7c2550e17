"""A folder of data files as the UUIDs to register.

The Orchestrator knows data only by UUID; the bytes live on Storage, which the reference
worker reads as a directory holding one file per UUID (compute/storage.py). api.md has no
upload route, so the client does not send file contents anywhere: a folder is registered
as follows.

- A file named by a canonical UUID is taken to be on Storage already under that name (the
  folder is, or mirrors, the site's Storage directory): its UUID is registered.
- Any other file is copied into the `storage` directory under a new random UUID, then
  registered. Random, not derived from the contents: data UUIDs are visible to every
  client, and a hash of private data would let anyone confirm a guess of it.

Hidden files (a leading dot, such as Storage's own temporary files) and subfolders are
left out.
"""

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FolderData:
    """What a folder registers: each file with its UUID, and the copies made for it."""

    files: dict[Path, str]
    copied: list[Path]

    @property
    def uuids(self) -> list[str]:
        return list(self.files.values())

    def remove_copies(self) -> None:
        """Undo the copies, for a registration that was refused (nothing registered)."""
        for path in self.copied:
            path.unlink(missing_ok=True)


def canonical_uuid(name: str) -> str | None:
    """`name` when it is a canonical UUID (lower case, hyphenated), else None."""
    try:
        return name if str(uuid.UUID(name)) == name else None
    except ValueError:
        return None


def folder_data(folder: str | os.PathLike[str], storage: str | os.PathLike[str] | None = None) -> FolderData:
    """The folder's files and their UUIDs, in name order; files not named by a UUID are
    copied into `storage` first (ValueError without it, or when there is no file)."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ValueError(f"{root} holds no data file")
    unnamed = [p for p in files if canonical_uuid(p.name) is None]
    if unnamed and storage is None:
        raise ValueError(f"{len(unnamed)} files of {root} are not named by a UUID (e.g. {unnamed[0].name}): "
                         "give a Storage directory to copy them into (storage=..., --storage)")
    found: dict[Path, str] = {}
    copied: list[Path] = []
    try:
        for path in files:
            key = canonical_uuid(path.name)
            if key is None:
                assert storage is not None
                key = str(uuid.uuid4())
                copied.append(_copy_into(Path(storage), path, key))
            found[path] = key
    except BaseException:
        FolderData(found, copied).remove_copies()
        raise
    return FolderData(found, copied)


def _copy_into(storage: Path, source: Path, key: str) -> Path:
    # Copy then rename, as compute's DirectoryStorage writes: a worker never reads half a file.
    storage.mkdir(parents=True, exist_ok=True)
    target = storage / key
    fd, tmp = tempfile.mkstemp(dir=storage, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
