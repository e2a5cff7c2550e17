"""The first answer to each `Idempotency-Key`, kept 24 hours (api.md, "Idempotent requests")."""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models.functions import Now
from rest_framework.utils.encoders import JSONEncoder

# The contract's 24 hours: a key is answered again for that long, and pruned after.
KEPT_FOR = timedelta(hours=24)
# Expired keys each keyed request deletes, so that the table stays about a day of requests
# without a scheduled job (`prune_idempotency_keys` deletes them all at once).
PRUNED_PER_REQUEST = 2


@dataclass(frozen=True)
class Fingerprint:
    """What makes a request the same request: its method, path and query, and body."""

    method: str
    path: str
    body_digest: str

    @classmethod
    def of(cls, method: str, path: str, body: bytes) -> "Fingerprint":
        return cls(method, path, hashlib.sha256(body).hexdigest())


def lock_id(user_pk: Any, key: str) -> int:
    """A 64-bit advisory lock number for one user's key (PostgreSQL's one-key lock space,
    which the project uses for nothing else; a collision only makes a request wait its turn)."""
    digest = hashlib.blake2b(f"{user_pk}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class IdempotencyKeyQuerySet(models.QuerySet["IdempotencyKey"]):
    """The statements of a keyed request are written out (`_sql`): the reference worker
    sends a key with every claim, heartbeat and result, and the ORM building them cost
    3.4 ms of CPU a request (a claim without a key costs about 2), written out 1 ms. The
    operator's pruning is ordinary Django."""

    def try_lock(self, user_pk: Any, key: str) -> bool:
        """Hold the key until the transaction ends; False at once when another request holds it.

        Needs a transaction: the lock is released with it, after its commit, so whoever
        takes the key next sees the answer it committed."""
        rows = _run("SELECT pg_try_advisory_xact_lock(%s)", [lock_id(user_pk, key)])
        return bool(rows and rows[0][0])

    def answer_to(self, user_pk: Any, key: str) -> "IdempotencyKey | None":
        """The stored answer to this user's key, if it is younger than KEPT_FOR."""
        rows = _run(_sql("SELECT method, path, body_digest, status_code, body FROM {table} "
                         "WHERE user_id = %s AND key = %s AND created_at > STATEMENT_TIMESTAMP() - %s"),
                    [user_pk, key, KEPT_FOR])
        if not rows:
            return None
        method, path, body_digest, status_code, body = rows[0]
        return IdempotencyKey(user_id=user_pk, key=key, method=method, path=path, body_digest=body_digest,
                              status_code=status_code, body=body)

    def keep(self, *, user_pk: Any, key: str, request: Fingerprint, status_code: int, data: Any) -> None:
        """Store the answer; one statement, replacing an expired answer to the same key."""
        body = None if data is None else json.dumps(data, cls=JSONEncoder)
        _run(_sql("INSERT INTO {table} (user_id, key, method, path, body_digest, status_code, body) "
                  "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO UPDATE SET "
                  "method = EXCLUDED.method, path = EXCLUDED.path, body_digest = EXCLUDED.body_digest, "
                  "status_code = EXCLUDED.status_code, body = EXCLUDED.body, created_at = EXCLUDED.created_at"),
             [user_pk, key, request.method, request.path, request.body_digest, status_code, body])

    def keep_unless_answered(self, *, user_pk: Any, key: str, request: Fingerprint, status_code: int) -> bool:
        """Store an answer without a body in one statement outside a transaction, unless
        the key has a live answer already (a request with the same key answered
        meanwhile: the first answer stays); whether it was stored. For the end of a
        waiting claim (tasks.api)."""
        return bool(_run(_sql("INSERT INTO {table} (user_id, key, method, path, body_digest, status_code, body) "
                  "VALUES (%s, %s, %s, %s, %s, %s, NULL) ON CONFLICT (user_id, key) DO UPDATE SET "
                  "method = EXCLUDED.method, path = EXCLUDED.path, body_digest = EXCLUDED.body_digest, "
                  "status_code = EXCLUDED.status_code, body = NULL, created_at = EXCLUDED.created_at "
                  "WHERE {table}.created_at <= STATEMENT_TIMESTAMP() - %s RETURNING 1"),
             [user_pk, key, request.method, request.path, request.body_digest, status_code, KEPT_FOR]))

    def prune_some(self, limit: int) -> None:
        """Delete the oldest `limit` expired answers that no one else is deleting.

        SKIP LOCKED: concurrent requests prune different rows and never wait on each other."""
        _run(_sql("DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                  "WHERE created_at < STATEMENT_TIMESTAMP() - %s ORDER BY created_at LIMIT %s "
                  "FOR UPDATE SKIP LOCKED)"), [KEPT_FOR, limit])

    def expired(self) -> "IdempotencyKeyQuerySet":
        return self.filter(created_at__lt=Now() - KEPT_FOR)

    def prune(self) -> int:
        """Delete every expired answer, in one statement; how many."""
        deleted, _ = self.expired().delete()
        return deleted


def _sql(template: str) -> str:
    return template.format(table=IdempotencyKey._meta.db_table)


def _run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


class IdempotencyKey(models.Model):
    """One user's key and the first answer given to it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
        # The unique (user, key) index serves lookups by user.
        db_index=False,
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.TextField(help_text="path and query string")
    body_digest = models.CharField(max_length=64, help_text="SHA-256 of the request body, hex")
    status_code = models.PositiveSmallIntegerField()
    # JSON text rather than jsonb, which would reorder the keys: the replay is the same bytes.
    body = models.TextField(null=True, help_text="the answer's JSON; null when it had no body")
    created_at = models.DateTimeField(db_default=Now())

    objects = IdempotencyKeyQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_once_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotencykey_created_at")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"

    @property
    def request(self) -> Fingerprint:
        return Fingerprint(self.method, self.path, self.body_digest)

    @property
    def data(self) -> Any:
        return None if self.body is None else json.loads(self.body)
