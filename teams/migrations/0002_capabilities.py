"""Creates one Capability row per CapabilityCode."""

from django.db import migrations

CODES = [
    "home_visits", "response_24h", "emergency_admission", "palliative_care",
    "pediatric_home_care", "ventilator", "tube_feeding", "home_oxygen", "dementia",
    "end_of_life", "iv_therapy", "rehabilitation", "aseptic_compounding",
]


def create(apps, schema_editor):
    Capability = apps.get_model("teams", "Capability")
    for code in CODES:
        Capability.objects.get_or_create(code=code)


class Migration(migrations.Migration):
    dependencies = [("teams", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
