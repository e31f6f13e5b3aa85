"""Password hashing: Argon2id with OWASP's recommended parameters.

Django's default Argon2 parameters take 100 MiB of memory per hash. A shift change, when a
whole station's tablets log in within a minute, then costs each Daphne process hundreds of MiB
(measured in bench/). OWASP's first recommended setting for Argon2id (19 MiB, 2 iterations,
1 lane) keeps hashes memory-hard at a fifth of the memory. Hashes made with other parameters
are upgraded on the next successful login (`must_update`). Django's own Argon2 hasher must
not also be listed in PASSWORD_HASHERS: it has the same algorithm name and would take over.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class KizunaArgon2PasswordHasher(Argon2PasswordHasher):
    # Same algorithm name as Django's, so existing hashes verify and are re-hashed on login.
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
