"""Give every existing patient their contact-book thread (new patients get one on creation)."""

from django.db import migrations


def create_contact_books(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    Thread = apps.get_model("messaging", "Thread")
    have = set(
        Thread.objects.filter(kind="contact_book").values_list("patient_id", flat=True)
    )
    Thread.objects.bulk_create(
        [
            Thread(kind="contact_book", patient_id=pk)
            for pk in Patient.objects.values_list("pk", flat=True)
            if pk not in have
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_message_body_trigram"),
        ("patients", "0002_initial"),
    ]

    operations = [
        migrations.RunPython(create_contact_books, migrations.RunPython.noop),
    ]
