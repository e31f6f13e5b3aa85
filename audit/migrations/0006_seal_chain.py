"""The audit log's hash chain: one seal per audit row (audit/chain.py), append-only like the
rows themselves (0003's trigger function refuses UPDATE and DELETE), and the action written
when the daily check finds the chain broken."""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE TRIGGER audit_auditseal_append_only
    BEFORE UPDATE OR DELETE ON audit_auditseal
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse_change();
"""

BACKWARD = "DROP TRIGGER IF EXISTS audit_auditseal_append_only ON audit_auditseal;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0005_sign_in_and_refusal_actions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('read', '閲覧'), ('list', '一覧'), ('create', '作成'), ('update', '更新'), ('delete', '削除'), ('export', '出力'), ('break_glass', '緊急アクセス'), ('sign_in', 'サインイン'), ('sign_in_failed', 'サインイン失敗'), ('sign_out', 'サインアウト'), ('lockout', 'ロックアウト'), ('second_factor', '二段階認証の変更'), ('second_factor_bad', '二段階認証の失敗'), ('refused', '拒否'), ('disclosure', '第三者提供'), ('chain_broken', '監査ログの改ざん検知')], max_length=20),
        ),
        migrations.CreateModel(
            name='AuditSeal',
            fields=[
                ('seq', models.BigIntegerField(primary_key=True, serialize=False)),
                ('prev_hash', models.BinaryField(max_length=32)),
                ('hash', models.BinaryField(max_length=32)),
                ('sealed_at', models.DateTimeField(auto_now_add=True)),
                ('event', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='seal', to='audit.auditevent')),
            ],
            options={
                'verbose_name': '監査ログの封印',
                'verbose_name_plural': '監査ログの封印',
                'ordering': ['seq'],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
