"""Search folds Japanese alike in the text and the query (issue 15, item 7).

`kizuna_fold(text)`: NFKC, lower case, katakana to hiragana, old character forms to new
(the rule of `messaging.fold`, frozen here as it was when this migration was written; a test
holds the two equal). The trigram index on UPPER(body) gives way to one on kizuna_fold(body):
building it folds every message already stored, so existing messages are found the new way
at once (the backfill), and each new or edited message is folded by the index itself, with no
second copy of the text to keep in step.
"""

import django.contrib.postgres.indexes
import django.db.models.expressions
import django.db.models.fields
import django.db.models.functions.text
from django.db import migrations

FOLD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION kizuna_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT translate(lower(normalize($1, NFKC)), 'ァアィイゥウェエォオカガキギクグケゲコゴサザシジスズセゼソゾタダチヂッツヅテデトドナニヌネノハバパヒビピフブプヘベペホボポマミムメモャヤュユョヨラリルレロヮワヰヱヲンヴヵヶヽヾ髙﨑邊邉齋齊澤濱國廣櫻眞德藥醫體氣壓腦圓會學實縣區號惠榮淺曾檜嶋嶌瀨濵', 'ぁあぃいぅうぇえぉおかがきぎくぐけげこごさざしじすずせぜそぞただちぢっつづてでとどなにぬねのはばぱひびぴふぶぷへべぺほぼぽまみむめもゃやゅゆょよらりるれろゎわゐゑをんゔゕゖゝゞ高崎辺辺斎斉沢浜国広桜真徳薬医体気圧脳円会学実県区号恵栄浅曽桧島島瀬浜') $$"
)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0005_drop_redundant_indexes"),
    ]

    operations = [
        migrations.RunSQL(FOLD_FUNCTION, "DROP FUNCTION IF EXISTS kizuna_fold(text)"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "CREATE INDEX IF NOT EXISTS message_body_fold_trgm ON messaging_message"
                    " USING gin ((kizuna_fold(body)) gin_trgm_ops)",
                    "DROP INDEX IF EXISTS message_body_fold_trgm",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS message_body_trgm",
                    "CREATE INDEX IF NOT EXISTS message_body_trgm ON messaging_message"
                    " USING gin ((UPPER(body)) gin_trgm_ops)",
                ),
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="message", name="message_body_trgm"),
                migrations.AddIndex(
                    model_name="message",
                    index=django.contrib.postgres.indexes.GinIndex(
                        django.contrib.postgres.indexes.OpClass(
                            django.db.models.expressions.Func(
                                django.db.models.expressions.F("body"),
                                function="kizuna_fold",
                                output_field=django.db.models.fields.TextField(),
                            ),
                            name="gin_trgm_ops",
                        ),
                        name="message_body_fold_trgm",
                    ),
                ),
            ],
        ),
    ]
