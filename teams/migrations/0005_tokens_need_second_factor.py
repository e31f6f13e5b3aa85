"""API tokens made before two-factor sign-in were given for a password alone: they end, and
their devices sign in again with a second-factor code."""

from django.db import migrations


def end_password_only_tokens(apps, schema_editor):
    apps.get_model("teams", "ApiToken").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("teams", "0004_organization_session_idle_minutes")]

    operations = [migrations.RunPython(end_password_only_tokens, migrations.RunPython.noop)]
