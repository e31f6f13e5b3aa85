"""Search in my threads: Japanese text, scoped by the gate, deleted messages left out."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from messaging import services
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
    # The lookup search() uses: icontains must compile to the indexed expression.
    qs = Message.objects.filter(body__icontains="褥瘡の処置").order_by().values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SELECT show_trgm(%s)", ["褥瘡の処置"])
        trigrams = cursor.fetchone()[0]
    plan = qs.explain()
    assert trigrams, "pg_trgm sees no trigrams in Japanese text (database locale?)"
    assert "message_body_trgm" in plan
