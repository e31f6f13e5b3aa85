# The service now sets a message's created_at itself (the thread's last_message_at is the same
# instant). auto_now_add -> default changes nothing in the database, so this only moves the
# state: on SQLite an AlterField would rebuild the table and its PostgreSQL-only index.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0003_contact_books_for_existing_patients"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="created_at",
                    field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
            ],
            database_operations=[],
        ),
    ]
