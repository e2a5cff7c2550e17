"""The event table is append-only, enforced by PostgreSQL."""

import pytest
from django.db import DatabaseError, transaction

from tasks.models import TaskEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> TaskEvent:
    return TaskEvent.objects.create(kind="learnuplet", task="00000000-0000-4000-8000-000000000001",
                                    from_status="todo", to_status="pending", actor="w")


def test_it_refuses_to_rewrite_an_event(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        TaskEvent.objects.filter(pk=event.pk).update(reason="rewritten")

    event.refresh_from_db()
    assert event.reason == ""


def test_it_refuses_to_delete_an_event(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        TaskEvent.objects.filter(pk=event.pk).delete()

    assert TaskEvent.objects.filter(pk=event.pk).exists()
