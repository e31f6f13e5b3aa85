"""Passwords are hashed with Argon2id at OWASP's parameters, and older hashes still work."""

from __future__ import annotations

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    PBKDF2PasswordHasher,
    check_password,
    identify_hasher,
    make_password,
)

from teams.hashers import KizunaArgon2PasswordHasher


def test_new_hashes_use_argon2id_with_19_mib_and_two_iterations():
    encoded = make_password("tablet-passphrase")
    assert isinstance(identify_hasher(encoded), KizunaArgon2PasswordHasher)
    assert "$argon2id$v=19$m=19456,t=2,p=1$" in encoded
    assert not identify_hasher(encoded).must_update(encoded)


def test_a_hash_with_djangos_default_argon2_parameters_verifies_and_is_upgraded():
    old = Argon2PasswordHasher().encode("tablet-passphrase", Argon2PasswordHasher().salt())
    assert check_password("tablet-passphrase", old)
    assert identify_hasher(old).must_update(old)


def test_a_pbkdf2_hash_still_verifies():
    old = PBKDF2PasswordHasher().encode("tablet-passphrase", PBKDF2PasswordHasher().salt())
    assert check_password("tablet-passphrase", old)
