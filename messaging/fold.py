"""Japanese search folding: the one rule that makes ムクミ find むくみ.

Search compares folded text with a folded query: NFKC (full-width/half-width forms,
compatibility characters: ｶﾀｶﾅ → カタカナ, ＡＢＣ → ABC), lower case, katakana folded to
hiragana, and old character forms (旧字体) to the new ones. The database does it with the SQL
function `kizuna_fold(text)` (migration 0006), which the trigram index on message bodies is
built over, and `messaging.selectors.search` folds the query with the same function, so the
indexed text and the query always fold alike. `fold` here is the same rule in Python, for
highlighting the hits; a test holds the two equal.
"""

from __future__ import annotations

import unicodedata

# Katakana ァ..ヶ and the iteration marks ヽヾ, to their hiragana.
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7)) + "ヽヾ"
HIRAGANA = "".join(chr(c - 0x60) for c in range(0x30A1, 0x30F7)) + "ゝゞ"
# Old forms common in names and medical words, one character to one (NFKC keeps them).
OLD_FORMS = "髙﨑邊邉齋齊澤濱國廣櫻眞德藥醫體氣壓腦圓會學實縣區號惠榮淺曾檜嶋嶌瀨濵"
NEW_FORMS = "高崎辺辺斎斉沢浜国広桜真徳薬医体気圧脳円会学実県区号恵栄浅曽桧島島瀬浜"
FROM_CHARS = KATAKANA + OLD_FORMS
TO_CHARS = HIRAGANA + NEW_FORMS

_TABLE = str.maketrans(FROM_CHARS, TO_CHARS)


def fold(text: str) -> str:
    """`text` as search compares it (the rule of the SQL function `kizuna_fold`)."""
    return unicodedata.normalize("NFKC", text).lower().translate(_TABLE)


def sql_function() -> str:
    """The `kizuna_fold` function's definition, from the same tables as `fold`."""
    src = FROM_CHARS.replace("'", "''")
    dst = TO_CHARS.replace("'", "''")
    return (
        "CREATE OR REPLACE FUNCTION kizuna_fold(text) RETURNS text"
        " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS"
        f" $$ SELECT translate(lower(normalize($1, NFKC)), '{src}', '{dst}') $$"
    )


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """`text` in runs, the runs that match the folded `query` marked (for the search page).

    Folds character by character, so a match is found in the original's positions; a match
    that needs two characters composed (ﾊﾟ) is not marked, but the message is still found.
    """
    needle = fold(query)
    if not needle:
        return [(text, False)]
    folded: list[str] = []
    owner: list[int] = []
    for i, ch in enumerate(text):
        for f in fold(ch):
            folded.append(f)
            owner.append(i)
    hay = "".join(folded)
    runs: list[tuple[str, bool]] = []
    pos = 0
    start = hay.find(needle)
    while start != -1:
        a, b = owner[start], owner[start + len(needle) - 1] + 1
        if a >= pos:
            if a > pos:
                runs.append((text[pos:a], False))
            runs.append((text[a:b], True))
            pos = b
        start = hay.find(needle, start + len(needle))
    if pos < len(text):
        runs.append((text[pos:], False))
    return runs
