"""The de-identification check of a referral's summary: what may not be written where every
invited physician reads it.

A referral's summary goes to physicians who may never be on the team, so it must not name
the patient or let them be found: names (the identifying record's own, and anything written
as a name with an honorific: 〜さん, 〜様), exact addresses (番地, 丁目, 1-2-3), phone numbers,
e-mail addresses and insurance numbers are refused, field by field, with what was found.

It is a guard against slips, not a proof: text is compared after NFKC normalisation (so
full-width digits and hyphens count), and what it cannot recognise (a nickname, a rare
landmark) stays the writer's responsibility, which the form says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from django.utils.translation import gettext as _

_DASH = r"[-‐‑‒–—―ー−ｰ]"
_KANJI_DIGITS = "〇一二三四五六七八九十百"

# Each pattern with what it stands for, in the words of the refusal.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "mail"),
    (
        re.compile(rf"(?<!\d)0\d{{1,4}}\s*{_DASH}?\s*\d{{1,4}}\s*{_DASH}?\s*\d{{3,4}}(?!\d)"),
        "phone",
    ),
    (re.compile(r"(保険者|被保険者|保険証|記号|受給者)[^\d]{0,6}\d{4,}"), "insurance"),
    (re.compile(r"(?<!\d)\d{8,}(?!\d)"), "insurance"),
    (re.compile(rf"[\d{_KANJI_DIGITS}]+\s*(丁目|番地|番(?!目)|号(?!室|機|線))"), "address"),
    # 1-2-3: three numbers (two would be a range, 120-80 or 90-95%, in clinical text).
    (re.compile(rf"(?<!\d)\d{{1,4}}\s*{_DASH}\s*\d{{1,4}}\s*{_DASH}\s*\d{{1,4}}(?!\d)"), "address"),
)

# A word written with an honorific (山田さん, ヤマダ様) names a person, unless it is one of
# the words clinical text uses for family and carers (娘さん, ご主人様, ヘルパーさん).
_HONORIFIC = re.compile(
    r"([\u4e00-\u9fff]{1,5}|[\u30a0-\u30ff]{2,8})\s?(さん|様|さま|氏|殿|ちゃん|くん)"
)
_NOT_NAMES = frozenset(
    {
        "母",
        "父",
        "娘",
        "息子",
        "奥",
        "妻",
        "夫",
        "主人",
        "長男",
        "長女",
        "次男",
        "次女",
        "三男",
        "三女",
        "兄",
        "姉",
        "弟",
        "妹",
        "嫁",
        "孫",
        "祖母",
        "祖父",
        "叔母",
        "叔父",
        "伯母",
        "伯父",
        "家族",
        "本人",
        "患者",
        "利用者",
        "相手",
        "皆",
        "管理者",
        "担当者",
        "医師",
        "看護師",
        "薬剤師",
        "ヘルパー",
        "ケアマネ",
        "ケアマネジャー",
        "ナース",
        "ドクター",
        "スタッフ",
        "ママ",
        "パパ",
    }
)


def _labels() -> dict[str, str]:
    return {
        "mail": _("メールアドレス"),
        "phone": _("電話番号"),
        "insurance": _("保険証などの番号"),
        "address": _("番地・丁目までの住所"),
        "name": _("氏名"),
    }


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "")


def _name_parts(names: Iterable[str]) -> set[str]:
    """The identifying names and their parts (family name, given name), two characters or
    more: a one-character part would match too much clinical text."""
    parts: set[str] = set()
    for name in names:
        clean = normalise(name).strip()
        if not clean:
            continue
        parts.add(clean.replace(" ", ""))
        parts.update(p for p in re.split(r"[\s・]+", clean) if len(p) >= 2)
    return parts


def findings(text: str, *, names: Iterable[str] = ()) -> list[str]:
    """What identifying data `text` holds, as labels (empty: none found)."""
    clean = normalise(text)
    labels = _labels()
    found: list[str] = []
    squeezed = clean.replace(" ", "")
    if any(part in squeezed for part in _name_parts(names)):
        found.append(labels["name"])
    named = any(m.group(1) not in _NOT_NAMES for m in _HONORIFIC.finditer(clean))
    if named and labels["name"] not in found:
        found.append(labels["name"])
    for pattern, kind in _PATTERNS:
        if labels[kind] not in found and pattern.search(clean):
            found.append(labels[kind])
    return found


def check_fields(fields: Mapping[str, str], *, names: Iterable[str] = ()) -> dict[str, list[str]]:
    """Field errors for the summary fields that hold identifying data (empty: none do)."""
    names = list(names)
    errors: dict[str, list[str]] = {}
    for field, text in fields.items():
        found = findings(text, names=names)
        if found:
            errors[field] = [
                _(
                    "個人を特定できる情報(%(what)s)は概要に書けません。紹介先が決まるまで、概要は候補の医師全員が読みます。"
                )
                % {"what": "、".join(found)}
            ]
    return errors
