"""The 2017 Go Compute's view of a pushed document: what `encoding/json` and satori's
`uuid.UUID` make of a body decoded into `common.LearnUplet` or `common.Preduplet`, then
their `Check()` (MorpheoOrg/morpheo-go-packages, common/data_structures.go as of 89c5ba0,
the version of the 2017 Python orchestrator's era; the Compute API's /learn and /pred
answer 400 when either fails).

Go's rules, as they apply to these fields: unknown keys are ignored; null leaves a field
at its zero value; a `uuid.UUID` takes only a JSON string that satori parses (32 hex
digits in the 8-4-4-4-12 groups, optionally braced or `urn:uuid:`-prefixed), and a JSON
array into it is an error (`[16]byte` with a text unmarshaler); an `int` takes only an
integral JSON number; a `string` only a JSON string.
"""

import json
import re
import uuid
from typing import Any

NIL = uuid.UUID(int=0)
STATUSES = {"todo", "pending", "done", "failed"}
_SATORI = re.compile(r"^(?:urn:uuid:|\{)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


class GoDecodeError(ValueError):
    """What the Compute's 400 would say."""


def _uuid(name: str, value: Any) -> uuid.UUID:
    if value is None:
        return NIL
    if not isinstance(value, str):
        raise GoDecodeError(f"json: cannot unmarshal {type(value).__name__} into field {name} of type uuid.UUID")
    if len(value) < 32 or not _SATORI.match(value) or (value.startswith("{") != value.endswith("}")):
        raise GoDecodeError(f"uuid: incorrect UUID format in {name}: {value!r}")
    return uuid.UUID(value.strip("{}").removeprefix("urn:uuid:"))


def _uuids(name: str, value: Any) -> list[uuid.UUID]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise GoDecodeError(f"json: cannot unmarshal {type(value).__name__} into field {name} of type []uuid.UUID")
    return [_uuid(name, item) for item in value]


def _int(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise GoDecodeError(f"json: cannot unmarshal {value!r} into field {name} of type int")
    return value


def _str(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GoDecodeError(f"json: cannot unmarshal {type(value).__name__} into field {name} of type string")
    return value


LEARNUPLET = {
    "uuid": _uuid, "problem": _uuid, "workflow": _uuid, "train_data": _uuids, "test_data": _uuids,
    "algo": _uuid, "model_start": _uuid, "model_end": _uuid, "rank": _int, "worker": _uuid,
    "status": _str, "timestamp_request": _int, "timestamp_done": _int,
}
PREDUPLET = {
    "uuid": _uuid, "problem": _uuid, "workflow": _uuid, "model": _uuid, "data": _uuid, "worker": _uuid,
    "status": _str, "timestamp_request": _int, "timestamp_done": _int, "prediction_storage_uuid": _uuid,
}


def _decode(body: bytes, fields: dict[str, Any], struct: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise GoDecodeError(f"Error decoding body to JSON: {exc}") from None
    if not isinstance(document, dict):
        raise GoDecodeError(f"json: cannot unmarshal {type(document).__name__} into Go value of type {struct}")
    decoded = {name: convert(name, None) for name, convert in fields.items()}
    for key, value in document.items():
        # encoding/json matches keys to fields case-insensitively.
        name = key if key in fields else next((f for f in fields if f.casefold() == key.casefold()), None)
        if name is not None:
            decoded[name] = fields[name](name, value)
    return decoded


def decode_learnuplet(body: bytes) -> dict[str, Any]:
    """`common.LearnUplet` decoded and checked, or GoDecodeError."""
    u = _decode(body, LEARNUPLET, "common.LearnUplet")
    for name in ("uuid", "problem", "workflow", "algo"):
        if u[name] == NIL:
            raise GoDecodeError(f"Invalid learn-uplet: {name} field is required")
    for name in ("train_data", "test_data"):
        if not u[name]:
            raise GoDecodeError(f"Invalid learn-uplet: {name} field is empty or unset")
        if NIL in u[name]:
            raise GoDecodeError(f"Invalid learn-uplet: Nil UUID in {name} field")
    if u["status"] not in STATUSES:
        raise GoDecodeError(f"Invalid learn-uplet: status field ain't valid (provided: {u['status']})")
    # The later packages' check (23a9581), which the worker needs anyway to pull the model.
    if u["rank"] > 0 and u["model_start"] == NIL:
        raise GoDecodeError(f"Invalid learn-uplet: rank {u['rank']} and empty ModelStart")
    return u


def decode_preduplet(body: bytes) -> dict[str, Any]:
    """`common.Preduplet` decoded and checked, or GoDecodeError."""
    u = _decode(body, PREDUPLET, "common.Preduplet")
    for name in ("uuid", "problem", "workflow", "model", "data"):
        if u[name] == NIL:
            raise GoDecodeError(f"Invalid pred-uplet: {name} field is unset")
    if u["status"] not in STATUSES:
        raise GoDecodeError(f"Invalid pred-uplet: status field ain't valid (provided: {u['status']})")
    return u
