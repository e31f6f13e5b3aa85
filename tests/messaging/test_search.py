"""Search in my threads: Japanese text, scoped by the gate, deleted messages left out."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.models import Func, TextField, Value
from django.urls import reverse

from messaging import services
from messaging.fold import fold, sql_function
from messaging.models import Message
from messaging.selectors import search

pytestmark = pytest.mark.django_db


def test_search_finds_japanese_text(api_as, net, book, post):
    post(net.nurse, book, "仙骨部の褥瘡、ポケット縮小傾向。")
    post(net.nurse, book, "血圧安定。")
    res = api_as(net.primary).get(reverse("messaging:search"), {"q": "褥瘡"})
    assert res.status_code == 200
    [hit] = res.json()["results"]
    assert hit["message"]["body"].startswith("仙骨部の褥瘡")
    assert hit["thread"]["patient"]["id"] == net.patient.pk


def test_search_is_case_insensitive_for_latin_text(net, book, post):
    post(net.nurse, book, "SpO2 95%")
    assert [m.body for m in search(net.primary, "spo2")] == ["SpO2 95%"]


def test_search_does_not_reach_threads_i_cannot_see(api_as, net, book, post):
    post(net.nurse, book, "褥瘡の処置")
    res = api_as(net.outsider).get(reverse("messaging:search"), {"q": "褥瘡"})
    assert res.json()["results"] == []


def test_search_leaves_out_deleted_messages(net, book, post):
    post(net.nurse, book, "褥瘡の処置")
    services.message_delete(net.nurse, thread=book.pk, seq=1)
    assert list(search(net.primary, "褥瘡")) == []


def test_search_treats_like_wildcards_as_text(net, book, post):
    post(net.nurse, book, "100%達成")
    post(net.nurse, book, "未達成")
    assert [m.body for m in search(net.primary, "%達成")] == ["100%達成"]


def test_blank_query_is_400(api_as, net):
    assert api_as(net.nurse).get(reverse("messaging:search"), {"q": ""}).status_code == 400
    assert api_as(net.nurse).get(reverse("messaging:search")).status_code == 400


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram index is PostgreSQL only")
def test_search_can_use_the_trigram_index_for_japanese(net, book, post):
    post(net.nurse, book, "仙骨部の褥瘡、ポケット縮小傾向。")
    # The lookup search() uses: the stored folded body against the folded query.
    query = Func(Value("褥瘡の処置"), function="kizuna_fold", output_field=TextField())
    qs = Message.objects.filter(body_folded__contains=query).order_by().values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SELECT show_trgm(%s)", ["褥瘡の処置"])
        trigrams = cursor.fetchone()[0]
    plan = qs.explain()
    assert trigrams, "pg_trgm sees no trigrams in Japanese text (database locale?)"
    assert "message_body_fold_trgm" in plan


def test_katakana_finds_hiragana_and_back(net, book, post):
    post(net.nurse, book, "両足のむくみが強い")
    post(net.nurse, book, "ムクミは軽快")
    found = sorted(m.body for m in search(net.primary, "ムクミ"))
    assert found == ["ムクミは軽快", "両足のむくみが強い"]
    assert len(list(search(net.primary, "むくみ"))) == 2


def test_half_width_and_full_width_match(net, book, post):
    post(net.nurse, book, "ＳｐＯ２ 95%、ｶﾞｰｾﾞ交換")
    assert len(list(search(net.primary, "spo2"))) == 1
    assert len(list(search(net.primary, "ガーゼ"))) == 1
    assert len(list(search(net.primary, "がーぜ"))) == 1


def test_old_character_forms_match_the_new(net, book, post):
    post(net.nurse, book, "髙橋薬局から連絡あり")
    assert len(list(search(net.primary, "高橋"))) == 1


@pytest.mark.parametrize(
    "text", ["ムクミ", "ｶﾞｰｾﾞ", "ＳｐＯ２", "髙橋 﨑 邊", "Ｈｂ１ｃ ７．２％", "ヴァイタル", "ヽヾ"]
)
def test_python_fold_equals_the_database_function(db, text):
    with connection.cursor() as cursor:
        cursor.execute("SELECT kizuna_fold(%s)", [text])
        assert cursor.fetchone()[0] == fold(text)


def test_the_migration_keeps_the_fold_function_of_messaging_fold():
    migration = importlib.import_module("messaging.migrations.0006_message_body_fold")
    assert sql_function() == migration.FOLD_FUNCTION


def test_an_edit_is_found_by_its_new_text(net, book, post):
    message = post(net.nurse, book, "発赤なし")
    services.message_edit(net.nurse, thread=book, seq=message.seq, body="発赤あり、ムクミ軽度")
    assert [m.pk for m in search(net.primary, "むくみ")] == [message.pk]
