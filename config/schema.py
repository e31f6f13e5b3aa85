"""The OpenAPI schema's answers that no view declares: the errors.

A drf-spectacular postprocessing hook (`SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`), so
every operation documents its error answers once, from the same rules that produce them,
instead of a copy per view:
- 400 everywhere: `config.middleware` refuses a NUL in a query string or header on any route,
  and views refuse bad parameters and bodies (`config.api.exception_handler`);
- 401 and 403 where a session or a token is required;
- 404 where the path or the body names an object (a patient, a thread, an organization to
  post for: missing and not-visible are one answer);
- 413 and 415 where the operation takes a body (`config.api.JSONParser`, DRF's negotiation);
- 414 everywhere: a URL over `KIZUNA_MAX_URL_BYTES` (`config.middleware`);
- 429 (with `Retry-After`) where a view says it is throttled: `throttled_methods` on the view
  class names its methods that `teams.throttle` may refuse (the sign-in, posting, searching,
  uploading).
Pages are not in the schema.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error of the API (config.api.error_body).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "機械向けのコード"},
                "message": {"type": "string", "description": "利用者向けのメッセージ"},
                "fields": {
                    "type": "object",
                    "description": "入力項目ごとのエラー: {項目: [メッセージ]}"
                    "（リストや辞書の項目は、要素ごとに入れ子になります）",
                    "additionalProperties": {},
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}

DESCRIPTIONS = {
    "400": "入力が不正です（項目ごとのエラーは fields）",
    "401": "認証が必要です",
    "403": "権限がありません",
    "404": "見つかりません（存在しないか、閲覧できません）",
    "413": "本文が大きすぎます",
    "414": "URLが長すぎます",
    "415": "対応していない Content-Type です",
    "429": "試行や操作が多すぎます（Retry-After 秒後にもう一度）",
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "もう一度試せるまでの秒数",
        "schema": {"type": "integer", "minimum": 1},
    }
}

_METHODS = {"get", "post", "put", "patch", "delete"}


def _throttled(generator: Any) -> set[tuple[str, str]]:
    """(path, method) of every operation whose view names the method in `throttled_methods`."""
    found = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view = getattr(callback, "cls", None)
        if method.lower() in getattr(view, "throttled_methods", ()):
            found.add((path, method.lower()))
    return found


def _codes(path: str, operation: dict[str, Any], throttled: bool) -> list[str]:
    codes = ["400", "414"]
    if throttled:
        codes.append("429")
    if {} not in operation.get("security", [{}]):
        codes += ["401", "403"]
    if "{" in path or "requestBody" in operation:
        codes.append("404")
    if "requestBody" in operation:
        codes += ["413", "415"]
    return sorted(codes)


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add the `Error` component and each operation's error answers (keeping any declared)."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    throttled = _throttled(generator)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes(path, operation, (path, method) in throttled):
                answer: dict[str, Any] = {
                    "description": DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ref}},
                }
                if code == "429":
                    answer["headers"] = RETRY_AFTER
                responses.setdefault(code, answer)
    return result
