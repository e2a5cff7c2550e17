from django.db import migrations

# The event table is the audit trail of every status change: PostgreSQL itself refuses
# to rewrite or delete its rows, whatever code (or operator with psql) tries.
FORWARD = """
CREATE FUNCTION tasks_taskevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tasks_taskevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER tasks_taskevent_append_only
    BEFORE UPDATE OR DELETE ON tasks_taskevent
    FOR EACH ROW EXECUTE FUNCTION tasks_taskevent_append_only();
"""

BACKWARD = """
DROP TRIGGER tasks_taskevent_append_only ON tasks_taskevent;
DROP FUNCTION tasks_taskevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("tasks", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
