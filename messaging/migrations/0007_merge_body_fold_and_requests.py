# Merge: search folding (0006_message_body_fold) and requests and escalation (0006_requests_and_escalation).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0006_message_body_fold'),
        ('messaging', '0006_requests_and_escalation'),
    ]

    operations = [
    ]
