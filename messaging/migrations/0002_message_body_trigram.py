"""Trigram search on message bodies (PostgreSQL only).

`pg_trgm` lets `icontains` (UPPER(body) LIKE UPPER('%q%')) use a GIN index, for Japanese text
as well as Latin. On SQLite (embedded mode) both operations do nothing to the database and
searches scan, which is fine at that size; the index stays in the migration state either way so
`makemigrations` sees no change.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class PostgresOnlyAddIndex(migrations.AddIndex):
    """AddIndex for the migration state; on PostgreSQL the index is made with explicit SQL.

    Explicit because Django renders an OpClass index expression correctly only when
    django.contrib.postgres is installed (its `ready` registers the wrapper), which this
    migration should not depend on.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                "CREATE INDEX IF NOT EXISTS message_body_trgm ON messaging_message "
                "USING gin ((UPPER(body)) gin_trgm_ops)"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute("DROP INDEX IF EXISTS message_body_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_initial"),
    ]

    operations = [
        # CreateExtension already skips databases other than PostgreSQL.
        TrigramExtension(),
        PostgresOnlyAddIndex(
            model_name="message",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("body"), name="gin_trgm_ops"
                ),
                name="message_body_trgm",
            ),
        ),
    ]
