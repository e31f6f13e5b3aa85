"""Django settings for Kizuna, read from the environment.

Every value has a safe development default so that `make run` and `make test` work on a fresh
machine. Production sets `DJANGO_DEBUG=0`, `DJANGO_SECRET_KEY`, `DJANGO_ALLOWED_HOSTS`,
`DATABASE_URL` and `REDIS_URL`.

`KIZUNA_EMBEDDED=1` selects the embedded mode: an in-process channel layer and Celery tasks run
in-process, for a first look on a machine without Redis. The database is PostgreSQL in every
mode (much of the code is PostgreSQL's SQL); in embedded mode `deploy/dev/run.py` starts a
private cluster and passes its socket URL as `DATABASE_URL`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)
EMBEDDED = env.bool("KIZUNA_EMBEDDED", default=False)

# Only with DJANGO_DEBUG on: without DEBUG, DJANGO_SECRET_KEY must be set (below).
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, under the same CSP as the rest
    "csp",
    "django_htmx",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "teams.apps.TeamsConfig",
    "patients.apps.PatientsConfig",
    "audit.apps.AuditConfig",
    "messaging.apps.MessagingConfig",
    "notifications.apps.NotificationsConfig",
    "conferences.apps.ConferencesConfig",
    "media.apps.MediaConfig",
]

MIDDLEWARE = [
    # First: no other middleware, view or the database meets an over-long URL, a NUL in a
    # query, header or form, or a mangled cookie (config/middleware.py). Its refusals are
    # passed through the header middlewares below (config.middleware.REFUSAL_HEADERS) only.
    "config.middleware.UntrustedInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After whitenoise: static files keep their own long-lived caching and get no CSP.
    "config.headers.ContentSecurityPolicyMiddleware",
    "config.headers.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication and messages: an idle or expired session ends before any view
    # runs, with a message for the login page.
    "teams.middleware.SessionLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.RequestContextMiddleware",
    # Last: a page's `Throttled` becomes the 429 page, rendered with the user and messages.
    "config.middleware.ThrottledPageMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.kizuna",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

# --- Data stores --------------------------------------------------------------------------

# The development default: the role that deploy/dev/services.sh makes in the local PostgreSQL
# (deploy/dev/defaults.env holds it for the dev tooling; tests/deploy checks they agree).
DEFAULT_DATABASE_URL = "postgres://kizuna:kizuna@127.0.0.1:5432/kizuna"
DATABASES = {"default": env.db_url("DATABASE_URL", default=DEFAULT_DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DATABASE_URL must name a PostgreSQL database (postgres://...): Kizuna runs "
        "PostgreSQL's SQL in every mode, the embedded one included"
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Each Daphne process does its database work on one sync thread (config.asgi), so one
# persistent connection serves it: opening a PostgreSQL connection costs more than most
# requests (bench/: an API read 16 ms with a new connection each time). It is checked
# before each request or socket call without a round trip (config.database), so a
# PostgreSQL restart costs no request an error, and renewed every DATABASE_CONN_MAX_AGE
# seconds. Connections per deployment: one per Daphne process and per Celery worker
# process; mind PostgreSQL's max_connections.
DATABASES["default"]["ENGINE"] = "config.database"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Server-side binding lets psycopg prepare a statement on its connection after it has run
# a few times (Django turns that off unless told): the gate and the history page cost
# more to plan than to run.
options = DATABASES["default"].setdefault("OPTIONS", {})
options["server_side_binding"] = env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
options["prepare_threshold"] = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_URL = env.str("REDIS_URL", default=DEFAULT_REDIS_URL)

CHANNEL_LAYERS: dict[str, dict[str, Any]]
if EMBEDDED:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            # Redis publish/subscribe, one subscription per process (messaging/layer.py).
            "BACKEND": "messaging.layer.KizunaPubSubLayer",
            "CONFIG": {
                "url": REDIS_URL,
                # Empty: one name space per database and Redis database
                # (`messaging.layer.deployment_prefix`), so deployments sharing a Redis server
                # never hear each other.
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default=""),
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
                "expiry": 60,
                "group_expiry": env.int("CHANNEL_LAYER_GROUP_EXPIRY", default=86400),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }

# --- Celery ------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://" if EMBEDDED else REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=EMBEDDED)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Tokyo"
# Queuing a task never holds up the request that queued it: with the broker down, the task is
# logged as not queued (the caller catches it) rather than retried for seconds.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The DatabaseScheduler copies these entries into its tables when beat starts.
CELERY_BEAT_SCHEDULE = {
    # Seal the audit rows written since the last run into the hash chain (audit/chain.py).
    "audit-seal": {"task": "audit.seal", "schedule": 60.0},
    # Check the whole chain once a day, at night, and warn the administrators if it is broken.
    "audit-verify": {
        "task": "audit.verify",
        "schedule": crontab(minute="30", hour="3"),  # Asia/Tokyo (CELERY_TIMEZONE)
    },
    # notifications: notices whose task was lost, retries due, quiet hours that ended.
    "notifications-sweep": {"task": "notifications.sweep", "schedule": 30.0},
    # messaging: notices of recent messages whose notify task was lost (messaging.notices).
    "messaging-notices-sweep": {"task": "messaging.notices_sweep", "schedule": 30.0},
    # The daily e-mail of unread threads, at each person's own hour in their time zone.
    "notifications-daily-digests": {"task": "notifications.daily_digests", "schedule": 600.0},
    # Photos: uploads never attached within 24 hours are deleted; photos whose derivatives a
    # lost task never made are queued again (media/services.py).
    "media-sweep": {"task": "media.sweep", "schedule": 300.0},
}
# Queues: notify (notices and their delivery), routing (requests and escalation), media
# (photo processing); everything else on the default "celery". `make run` and tests/workers.py
# start workers on all of them; production may give each its own workers.
CELERY_TASK_ROUTES = {
    "notifications.*": {"queue": "notify"},
    "messaging.notify_message": {"queue": "notify"},
    "messaging.notices_sweep": {"queue": "notify"},
    "routing.*": {"queue": "routing"},
    "media.*": {"queue": "media"},
    "conferences.*": {"queue": "notify"},
    "patients.referral_sweep": {"queue": "routing"},
}
# Embedded mode: the beat schedule runs in Daphne's process (config/beat.py).
KIZUNA_EMBEDDED_BEAT = env.bool("KIZUNA_EMBEDDED_BEAT", default=True)

# --- Notifications -------------------------------------------------------------------------
# The site's address as people open it, for links in push notifications and e-mails.
KIZUNA_SITE_URL = env.str("KIZUNA_SITE_URL", default="http://127.0.0.1:8000")
# Web Push (VAPID, RFC 8292): without a private key and a subject ("mailto:..." or an https
# URL), push is off and its deliveries fail with that reason. `manage.py vapid_keys` makes a
# pair (docs/notifications.md).
KIZUNA_VAPID_PUBLIC_KEY = env.str("KIZUNA_VAPID_PUBLIC_KEY", default="")
KIZUNA_VAPID_PRIVATE_KEY = env.str("KIZUNA_VAPID_PRIVATE_KEY", default="")
KIZUNA_VAPID_SUBJECT = env.str("KIZUNA_VAPID_SUBJECT", default="")
# The SMS/voice provider: a class with `send(phone, text)` (notifications.channels.SmsSender).
KIZUNA_SMS_SENDER = env.str("KIZUNA_SMS_SENDER", default="notifications.channels.LoggingSmsSender")

# --- Routing: requests and the escalation of urgent ones (messaging/escalation.py) ---------
# One "minute" of the escalation's clock in seconds (team deadlines, the 2-minute re-notice):
# tests and the fault run shorten it.
KIZUNA_ESCALATION_MINUTE_SECONDS = env.float("KIZUNA_ESCALATION_MINUTE_SECONDS", default=60.0)
KIZUNA_ESCALATION_SWEEP_SECONDS = env.float("KIZUNA_ESCALATION_SWEEP_SECONDS", default=30.0)
# While a step waits, its recipient is notified again this often (in the clock's minutes).
KIZUNA_ESCALATION_RENOTIFY_MINUTES = env.float("KIZUNA_ESCALATION_RENOTIFY_MINUTES", default=2.0)
# A step due sooner than this is queued with a countdown; later ones are the sweep's.
KIZUNA_ESCALATION_MAX_COUNTDOWN_SECONDS = env.float(
    "KIZUNA_ESCALATION_MAX_COUNTDOWN_SECONDS", default=15 * 60.0
)
CELERY_TASK_ROUTES = {
    **vars().get("CELERY_TASK_ROUTES", {}),
    "messaging.fire_step": {"queue": "routing"},
    "messaging.sweep_escalations": {"queue": "routing"},
}
CELERY_BEAT_SCHEDULE["routing-sweep"] = {
    "task": "messaging.sweep_escalations",
    "schedule": KIZUNA_ESCALATION_SWEEP_SECONDS,
}
# Conferences: reminders 24 hours and 15 minutes before each occurrence (conferences/tasks.py),
# swept every minute; the notice's key makes each reminder once per occurrence and person.
CELERY_BEAT_SCHEDULE["conferences-reminders"] = {
    "task": "conferences.send_reminders",
    "schedule": env.float("KIZUNA_CONFERENCE_SWEEP_SECONDS", default=60.0),
}
# The meeting room's STUN/TURN servers (conferences/ice.py; coturn in deploy/turn/).
KIZUNA_STUN_URLS = env.str("KIZUNA_STUN_URLS", default="")
KIZUNA_TURN_URLS = env.str("KIZUNA_TURN_URLS", default="")
KIZUNA_TURN_SECRET = env.str("KIZUNA_TURN_SECRET", default="")
KIZUNA_TURN_TTL_SECONDS = env.int("KIZUNA_TURN_TTL_SECONDS", default=6 * 3600)

# --- Referrals (patients/referrals.py, docs/referrals.md) -----------------------------------
# How long the invited physicians have to raise a hand, how many the matching invites at
# first, and how often the sweep escalates the overdue ones (queue `routing`).
KIZUNA_REFERRAL_DEADLINE_HOURS = env.int("KIZUNA_REFERRAL_DEADLINE_HOURS", default=48)
KIZUNA_REFERRAL_INVITES = env.int("KIZUNA_REFERRAL_INVITES", default=8)
CELERY_BEAT_SCHEDULE["referral-sweep"] = {
    "task": "patients.referral_sweep",
    "schedule": env.float("KIZUNA_REFERRAL_SWEEP_SECONDS", default=30.0),
}

# --- Mail ----------------------------------------------------------------------------------
# Warnings to the administrators (a broken audit chain). EMAIL_URL is django-environ's form
# (smtp+tls://user:password@host:587); the default prints mail on the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="kizuna@localhost")
SERVER_EMAIL = env.str("DJANGO_SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# The site's operators, mailed besides the organizations' administrators: a comma-separated
# list of addresses.
ADMINS = [(address, address) for address in env.list("DJANGO_ADMINS", default=[])]

# --- Auth --------------------------------------------------------------------------------

AUTH_USER_MODEL = "teams.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    # Verifies every Argon2 hash (the parameters are in the hash) and upgrades other ones.
    "teams.hashers.KizunaArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The absolute lifetime of a session, counted from the login (teams.sessions enforces it on the
# server; the cookie's own expiry is only the browser's copy of the rule).
SESSION_COOKIE_AGE = 12 * 60 * 60
# An API token stops working after this long without a request (teams.models.ApiToken).
KIZUNA_API_TOKEN_IDLE_SECONDS = env.int("KIZUNA_API_TOKEN_IDLE_SECONDS", default=12 * 60 * 60)
# Its last use is written at most this often: a write on every API request would double the
# cost of the reads.
KIZUNA_API_TOKEN_TOUCH_SECONDS = env.int("KIZUNA_API_TOKEN_TOUCH_SECONDS", default=60)
# Minutes without a user action after which a session ends (teams.sessions says what counts);
# an organization may set its own (Organization.session_idle_minutes), the strictest applies.
KIZUNA_SESSION_IDLE_MINUTES = env.int("KIZUNA_SESSION_IDLE_MINUTES", default=15)
# Two-factor sign-in (teams.second_factor). The demo's shortcut shows a demo account's current
# code on the sign-in page; a system check refuses it unless DEBUG is on.
KIZUNA_DEMO_SHOW_CODES = env.bool("KIZUNA_DEMO_SHOW_CODES", default=False)
OTP_TOTP_ISSUER = "Kizuna"
# A wrong code doubles the wait before the next try (1 s, 2 s, 4 s ... at most an hour).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Passkeys (teams.passkeys, WebAuthn on django-otp-webauthn's model and helper). The relying
# party's id is the site's host name ("kizuna.example.jp"); empty: the host the page was asked
# by ("localhost" in dev). The origins the browser may answer from; empty: the page's own.
# Changing the RP ID later makes every registered passkey unusable (they are bound to it).
KIZUNA_WEBAUTHN_RP_ID = env.str("KIZUNA_WEBAUTHN_RP_ID", default="")
KIZUNA_WEBAUTHN_ORIGINS = env.list("KIZUNA_WEBAUTHN_ORIGINS", default=[])
OTP_WEBAUTHN_HELPER_CLASS = "teams.passkeys.KizunaWebAuthnHelper"
# Given to the package too, so its system checks look at what is configured; left empty, the
# helper takes them from the request, and the checks that want them fixed are silenced.
OTP_WEBAUTHN_RP_ID = KIZUNA_WEBAUTHN_RP_ID
OTP_WEBAUTHN_ALLOWED_ORIGINS = KIZUNA_WEBAUTHN_ORIGINS
SILENCED_SYSTEM_CHECKS = [
    *([] if KIZUNA_WEBAUTHN_RP_ID else ["otp_webauthn.E010"]),
    *([] if KIZUNA_WEBAUTHN_ORIGINS else ["otp_webauthn.E030"]),
]
OTP_WEBAUTHN_RP_NAME = "Kizuna"
# A passkey is the second factor after the password, never the only one.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
# The sign-in guard (teams.throttle): this many failed checks of one account, or from one
# address, within the window lock it for the lockout; every attempt is refused meanwhile with
# 429 and Retry-After, the right password included. Wrong passwords and wrong second-factor
# codes count alike.
KIZUNA_SIGN_IN_ACCOUNT_FAILURES = env.int("KIZUNA_SIGN_IN_ACCOUNT_FAILURES", default=5)
KIZUNA_SIGN_IN_ADDRESS_FAILURES = env.int("KIZUNA_SIGN_IN_ADDRESS_FAILURES", default=20)
KIZUNA_SIGN_IN_WINDOW_SECONDS = env.int("KIZUNA_SIGN_IN_WINDOW_SECONDS", default=15 * 60)
KIZUNA_SIGN_IN_LOCKOUT_SECONDS = env.int("KIZUNA_SIGN_IN_LOCKOUT_SECONDS", default=15 * 60)
# Rate limits per person (teams.throttle.limit): a bucket of `burst` requests, refilled at
# `per_minute`; over it, 429 with Retry-After (on the socket an error frame). 0 turns one off.
# A nurse's outbox sends what piled up offline in one go: the post burst allows for it.
KIZUNA_RATE_LIMITS = {
    action: {
        "per_minute": env.float(f"KIZUNA_RATE_{action.upper()}_PER_MINUTE", default=per_minute),
        "burst": env.int(f"KIZUNA_RATE_{action.upper()}_BURST", default=burst),
    }
    for action, per_minute, burst in (
        ("post", 30.0, 30),
        ("search", 30.0, 20),
        # A visit can end with three posts of ten photos of a wound.
        ("upload", 10.0, 30),
    )
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# --- Security headers --------------------------------------------------------------------
# One place for the headers every answer carries (tests/web/test_security_headers.py holds
# them). SecurityMiddleware sends nosniff, Referrer-Policy and Cross-Origin-Opener-Policy;
# config.headers adds the CSP (with the live socket's origin), Permissions-Policy and the
# no-store rule for signed-in answers. Daphne's `Server` banner is turned off where Daphne is
# started (`--no-server-name`).

# HSTS only reaches browsers over TLS (SecurityMiddleware sends it on secure requests alone);
# on by default in production, off in development so a laptop's localhost is never pinned.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto so that requests count as secure
# (HSTS, wss:// in the CSP). Only when the proxy sets the header itself, never a client.
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Camera for the coming photo feature and, with the microphone and screen sharing, for the
# conference room, from this site only; everything else a page could ask the browser for is off.
PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), geolocation=(), payment=(), usb=(), serial=(), "
    "bluetooth=(), midi=(), display-capture=(self), browsing-topics=()"
)
# Strict: scripts only from this site or with the request's nonce, no inline styles, nothing
# framed, forms only to this site. connect-src gets the socket's ws(s):// origin per request
# (config.headers). Tests and the browser test assert that every page works under it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        # blob: the previews of photos taken or chosen on the page (media/static/media).
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- Internationalisation ----------------------------------------------------------------

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("日本語")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))

# --- Photos (media/) -------------------------------------------------------------------------
# Where photo files live: "local" (MEDIA_ROOT) or "s3" (any S3-compatible object storage,
# through django-storages; private objects, never a public URL: downloads go through the app).
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="local")
if MEDIA_STORAGE == "s3":
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("MEDIA_S3_BUCKET"),
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("MEDIA_S3_REGION", default=None),
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            "object_parameters": {"CacheControl": "private, no-store"},
        },
    }
else:
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Private: MEDIA_URL is never served; downloads go through the app's gate.
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": "/nowhere/"},
    }
# With nginx in front: Django checks and audits, nginx sends the file from an internal location
# (deploy/nginx/media.conf). Local storage only; S3 files are streamed by Django.
KIZUNA_X_ACCEL = env.bool("KIZUNA_X_ACCEL", default=False)
KIZUNA_X_ACCEL_PREFIX = env.str("KIZUNA_X_ACCEL_PREFIX", default="/protected-media/")
# An upload up to 26 MiB stays in memory (Daphne's request body and Django's upload handler):
# a photo's original bytes never touch a disk. Larger requests are refused anyway (25 MB).
FILE_UPLOAD_MAX_MEMORY_SIZE = 26 * 1024 * 1024

# --- API ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # The token first: DRF answers 401 (with `WWW-Authenticate: Token`) only when the first
    # scheme can name itself; the session scheme cannot, which turned every refusal into 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "teams.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        # DRF's, behind config.untrusted's checks: size, depth, NUL and lone surrogates.
        "config.parsers.JSONParser",
        "config.parsers.FormParser",
        "config.parsers.MultiPartParser",
    ],
}
# What a client may send (config/untrusted.py, config/middleware.py). The URL limit is half
# of what Daphne (Twisted) reads at all: a request line and headers over 16 KiB get a bare
# 400 from the server before the app sees them.
KIZUNA_MAX_URL_BYTES = env.int("KIZUNA_MAX_URL_BYTES", default=8 * 1024)
KIZUNA_JSON_MAX_BYTES = env.int("KIZUNA_JSON_MAX_BYTES", default=1024 * 1024)
KIZUNA_JSON_MAX_DEPTH = env.int("KIZUNA_JSON_MAX_DEPTH", default=32)
SPECTACULAR_SETTINGS = {
    "TITLE": "Kizuna API",
    "DESCRIPTION": "電子連絡帳 — threads and shared records for home-care teams",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN: the CSP allows
    # scripts from this site only.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `kind`; name each enum after its class so the schema is unambiguous.
    "ENUM_NAME_OVERRIDES": {
        "OrganizationKindEnum": "teams.models.OrganizationKind",
        "WishKindEnum": "patients.models.WishKind",
        "ThreadKindEnum": "messaging.models.ThreadKind",
        "MessageKindEnum": "messaging.models.MessageKind",
        "RequestStatusEnum": "messaging.models.RequestStatus",
        "PatientStatusEnum": "patients.models.PatientStatus",
        "ReplyKindEnum": "messaging.models.ReplyKind",
    },
    # Every operation's error answers, in the one error shape (config/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.add_error_responses",
    ],
}

# --- Kizuna ------------------------------------------------------------------------------

BREAK_GLASS_MAX_HOURS = 12
# The audit sealer waits at most this long for transactions that are inserting audit rows to
# end; meanwhile new inserts queue behind it, so it is short, and a sealing put off is tried
# again at the next run (docs/audit.md).
KIZUNA_AUDIT_SEAL_LOCK_TIMEOUT_MS = env.int("KIZUNA_AUDIT_SEAL_LOCK_TIMEOUT_MS", default=1000)
# verify_audit reports rows left unsealed longer than this (the sealer is not running).
KIZUNA_AUDIT_UNSEALED_WARN_MINUTES = env.int("KIZUNA_AUDIT_UNSEALED_WARN_MINUTES", default=5)
# Live sockets ping every so often (and refresh their group membership); they are cycled before
# the channel layer's group expiry (0: work it out from CHANNEL_LAYER_GROUP_EXPIRY).
KIZUNA_WS_PING_SECONDS = env.int("KIZUNA_WS_PING_SECONDS", default=30)
KIZUNA_WS_CYCLE_SECONDS = env.int("KIZUNA_WS_CYCLE_SECONDS", default=0)

# One handler, the root's, and every logger hands its records up to it, so each line is printed
# once. Django's own defaults give the "django" logger a console handler of its own (printing
# with DEBUG on) that doubled every Django line beside the root's: emptied here, and its level
# left to the root's. The Celery worker and beat replace the root's handler with theirs.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": [], "level": "NOTSET", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}
