"""Throttling on Django's cache: the sign-in guard and the rate limits per person.

Two kinds, both refusing with `config.errors.Throttled` (HTTP 429 with `Retry-After`):

**The sign-in guard** counts failed credential checks per account and per client address.
After `KIZUNA_SIGN_IN_ACCOUNT_FAILURES` failures of one account, or
`KIZUNA_SIGN_IN_ADDRESS_FAILURES` from one address, within `KIZUNA_SIGN_IN_WINDOW_SECONDS`,
the account (or the address) is locked for `KIZUNA_SIGN_IN_LOCKOUT_SECONDS`: `guard` refuses
every attempt before the password is looked at, so the right password does not open a locked
account. Every credential check of the project calls, in this order:

    guard(kind, account=..., address=...)   # raises Throttled while locked
    user = authenticate(...)                 # Django sends user_login_failed on a failure
    failed(kind, ...) or succeeded(kind, ...)

`kind` is "password" or "second_factor". Each kind counts its own failures, so a known
password, which resets the password count, never resets the count of wrong codes; the lock is
one per account and one per address, whichever kind set it, over the web and the API alike.
A success resets the account's count of that kind (a second factor's success, both kinds'),
never the address's: one valid account must not clear the way for guessing the others from
the same place. Every lock, and every attempt refused while locked, is audited
(`AuditAction.LOCKOUT`); failures themselves are audited elsewhere, from Django's
`user_login_failed` signal.

**Rate limits per person** (`limit(action, person)`, actions "post", "upload", "search"):
a token bucket per person and action, `KIZUNA_RATE_LIMITS[action]` giving the sustained rate
(`per_minute`) and the burst. It is kept as one number, the bucket's "theoretical arrival
time" (GCRA), and checked and moved in one cache round trip: on Redis one Lua script
(atomic across processes), elsewhere (the embedded mode's LocMemCache) under a process lock.
Posting is the hot path, so the check is that one round trip and nothing else.

Both fail open: if the cache cannot be reached, the attempt goes on (and is logged). Taking
the care team's messaging or sign-in down with Redis would cost more than the few guesses an
attacker who can stop Redis would gain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import math
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from config.errors import Throttled

logger = logging.getLogger(__name__)

SIGN_IN_KINDS = ("password", "second_factor")
ACTIONS = ("post", "upload", "search")

ACCOUNT_MAX = 150  # how much of a typed account name the audit row keeps

# --- the sign-in guard ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignInPolicy:
    account_failures: int
    address_failures: int
    window_seconds: int
    lockout_seconds: int


def sign_in_policy() -> SignInPolicy:
    return SignInPolicy(
        account_failures=int(settings.KIZUNA_SIGN_IN_ACCOUNT_FAILURES),
        address_failures=int(settings.KIZUNA_SIGN_IN_ADDRESS_FAILURES),
        window_seconds=int(settings.KIZUNA_SIGN_IN_WINDOW_SECONDS),
        lockout_seconds=int(settings.KIZUNA_SIGN_IN_LOCKOUT_SECONDS),
    )


def normalise_account(account: str) -> str:
    """The account as the guard counts it: "Ｎｕｒｓｅ " and "nurse" are one account, so
    varying the width, the case or the spaces does not buy more guesses."""
    return unicodedata.normalize("NFKC", account).strip().casefold()


def _account_id(account: str) -> str:
    # A digest: the cache holds no typed names (a password typed in the name field included).
    return hashlib.sha256(normalise_account(account).encode()).hexdigest()[:32]


def _address_id(address: str | None) -> str | None:
    """The address as the guard counts it: an IPv6 client holds a whole /64, so the /64."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _check_kind(kind: str) -> None:
    if kind not in SIGN_IN_KINDS:
        raise ValueError(f"unknown sign-in kind {kind!r}")


def _lock_key(scope: str, ident: str) -> str:
    return f"kizuna:signin:lock:{scope}:{ident}"


def _count_key(scope: str, ident: str, kind: str = "") -> str:
    return f"kizuna:signin:fail:{scope}:{kind or 'any'}:{ident}"


def _lockout_message(retry_after: int) -> str:
    until = timezone.localtime() + dt.timedelta(seconds=retry_after)
    return _(
        "ログインの失敗が続いたため、ログインを一時的に止めています。"
        "%(minutes)s分後（%(time)s以降）にもう一度お試しください。"
    ) % {"minutes": max(1, math.ceil(retry_after / 60)), "time": f"{until:%H:%M}"}


def _audit_lockout(
    actor: AbstractBaseUser | None, *, kind: str, account: str, address: str | None, what: str
) -> None:
    detail = f"{what} kind={kind} account={account[:ACCOUNT_MAX]} address={address or '-'}"
    audit_record(actor, AuditAction.LOCKOUT, object_type="sign_in", detail=detail)


def guard(
    kind: str, *, account: str, address: str | None, actor: AbstractBaseUser | None = None
) -> None:
    """Refuse (`Throttled`, code "too_many_attempts") while the account or the address is
    locked; call it before the credentials are checked. A refusal is audited."""
    _check_kind(kind)
    keys = [_lock_key("account", _account_id(account))]
    address_id = _address_id(address)
    if address_id is not None:
        keys.append(_lock_key("address", address_id))
    try:
        locks = cache.get_many(keys)
    except Exception:
        logger.warning("sign-in guard: the cache cannot be read; not checked", exc_info=True)
        return
    now = time.time()
    until = max((float(v) for v in locks.values()), default=0.0)
    if until <= now:
        return
    retry_after = math.ceil(until - now)
    scopes = ",".join(k.split(":")[3] for k, v in locks.items() if float(v) > now)
    _audit_lockout(
        actor, kind=kind, account=account, address=address, what=f"refused ({scopes} locked)"
    )
    raise Throttled(
        _lockout_message(retry_after), retry_after=retry_after, code="too_many_attempts"
    )


def _count(key: str, window: int) -> int:
    """One more failure under `key`, counted for `window` seconds from the first."""
    if cache.add(key, 1, window):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # it expired between the two calls
        cache.set(key, 1, window)
        return 1


def _lock(scope: str, ident: str, count_key: str, policy: SignInPolicy) -> None:
    cache.set(_lock_key(scope, ident), time.time() + policy.lockout_seconds, policy.lockout_seconds)
    # A fresh count after the lock: the next lock takes as many failures again.
    cache.delete(count_key)


def failed(
    kind: str, *, account: str, address: str | None, actor: AbstractBaseUser | None = None
) -> None:
    """A credential check failed: count it for the account and the address, and lock the
    one whose count has reached its limit (audited)."""
    _check_kind(kind)
    policy = sign_in_policy()
    account_id = _account_id(account)
    address_id = _address_id(address)
    locked = []
    try:
        key = _count_key("account", account_id, kind)
        if _count(key, policy.window_seconds) >= policy.account_failures:
            _lock("account", account_id, key, policy)
            locked.append("locked account")
        if address_id is not None:
            key = _count_key("address", address_id)
            if _count(key, policy.window_seconds) >= policy.address_failures:
                _lock("address", address_id, key, policy)
                locked.append("locked address")
    except Exception:
        logger.warning("sign-in guard: the failure could not be counted", exc_info=True)
    for what in locked:  # outside the cache's try: a failed audit write is not swallowed
        _audit_lockout(actor, kind=kind, account=account, address=address, what=what)


def succeeded(kind: str, *, account: str, address: str | None = None) -> None:
    """The credentials were right: the account's count of failures starts again (a second
    factor's success, the end of a sign-in, clears the password's count too). The address's
    count stays: see the module's docstring."""
    _check_kind(kind)
    account_id = _account_id(account)
    kinds = SIGN_IN_KINDS if kind == "second_factor" else (kind,)
    try:
        cache.delete_many([_count_key("account", account_id, k) for k in kinds])
    except Exception:
        logger.warning("sign-in guard: the count could not be reset", exc_info=True)


# --- rate limits per person -----------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    interval_ms: int  # one request's worth of the bucket, refilled at the sustained rate
    burst: int

    @classmethod
    def of(cls, per_minute: float, burst: int) -> Rate:
        return cls(interval_ms=max(1, math.ceil(60_000 / per_minute)), burst=max(1, burst))


def rate_for(action: str) -> Rate | None:
    """The limit of `action` from `KIZUNA_RATE_LIMITS`; None when it is off (a rate or burst
    of 0)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown rate-limited action {action!r}")
    conf: dict[str, Any] = settings.KIZUNA_RATE_LIMITS[action]
    per_minute = float(conf["per_minute"])
    burst = int(conf["burst"])
    if per_minute <= 0 or burst <= 0:
        return None
    return Rate.of(per_minute, burst)


# GCRA: the key holds the bucket's theoretical arrival time (TAT, ms). A request is let through
# when, after it, the TAT stays within `burst` intervals of now; the answer is 0 (through) or
# the milliseconds until one would be.
_GCRA_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
"""

_script: Any = None
_local_lock = threading.Lock()
# While the cache is unreachable, posts are not held up by a failing call each (redis-py
# retries for ~50 ms): the limits are skipped for this long after a failure, then tried again.
CACHE_DOWN_SKIP_SECONDS = 5.0
_skip_until = 0.0


def _gcra(tat: float | None, now: int, rate: Rate) -> tuple[int, int]:
    """(milliseconds to wait, or 0; the new TAT) — the Lua script's arithmetic, in Python."""
    start = max(int(tat) if tat is not None else now, now)
    new_tat = start + rate.interval_ms
    allow_at = new_tat - rate.burst * rate.interval_ms
    if allow_at > now:
        return allow_at - now, start
    return 0, new_tat


def _take(key: str, rate: Rate) -> int:
    """Take one request from the bucket under `key`: 0, or the milliseconds to wait."""
    global _script
    now = int(time.time() * 1000)
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(full_key, write=True)
        if _script is None:
            _script = client.register_script(_GCRA_LUA)
        return int(
            _script(keys=[full_key], args=[now, rate.interval_ms, rate.burst], client=client)
        )
    with _local_lock:
        wait, new_tat = _gcra(backend.get(key), now, rate)
        if not wait:
            backend.set(key, new_tat, math.ceil((new_tat - now) / 1000) + 1)
        return wait


def _rate_message(action: str, retry_after: int) -> str:
    messages = {
        "post": _("送信が多すぎます。%(seconds)s秒後にもう一度お試しください。"),
        "upload": _("アップロードが多すぎます。%(seconds)s秒後にもう一度お試しください。"),
        "search": _("検索が多すぎます。%(seconds)s秒後にもう一度お試しください。"),
    }
    return messages[action] % {"seconds": retry_after}


def limit(action: str, person: AbstractBaseUser) -> None:
    """Count one `action` of `person`; `Throttled` (code "rate_limited") if they are over its
    limit. Call it before the work, once per request or socket frame."""
    global _skip_until
    rate = rate_for(action)
    if rate is None or person.pk is None or time.monotonic() < _skip_until:
        return
    try:
        wait_ms = _take(f"kizuna:rate:{action}:{person.pk}", rate)
    except Exception:
        _skip_until = time.monotonic() + CACHE_DOWN_SKIP_SECONDS
        logger.warning(
            "rate limits: the cache cannot be reached; not checked for %s s",
            CACHE_DOWN_SKIP_SECONDS,
            exc_info=True,
        )
        return
    if wait_ms > 0:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise Throttled(_rate_message(action, retry_after), retry_after=retry_after)
