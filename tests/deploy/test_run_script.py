"""`deploy/dev/run.py` (what `make run` calls): mode choice, defaults and the port check.

The whole embedded path, served for real and stopped, is tests/deploy/test_embedded_mode.py.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
from pathlib import Path

import environ
import pytest
from django.conf import settings

from messaging.management.commands import seed_demo
from tests.deploy.dev_scripts import BASE_DIR, RUN_PY, free_port, load


def load_run():
    return load("run")


def closed_port() -> int:
    # A port nobody listens on: bound, then released, and nothing else takes it that quickly.
    return free_port()


def test_run_script_lists_the_same_key_logins_as_seed_demo():
    run = load_run()

    assert [u for u, _ in run.KEY_LOGINS] == [u for u, _ in seed_demo.KEY_LOGINS]
    assert run.DEMO_PASSWORD == seed_demo.DEMO_PASSWORD


def test_embedded_mode_is_forced_by_kizuna_embedded():
    embedded, why = load_run().choose_mode({"KIZUNA_EMBEDDED": "1"})

    assert embedded
    assert "KIZUNA_EMBEDDED" in why


def test_embedded_mode_is_chosen_when_postgres_and_redis_do_not_answer():
    port = closed_port()
    environ = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/kizuna",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
    }

    embedded, why = load_run().choose_mode(environ)

    assert embedded
    assert "PostgreSQL" in why
    assert "Redis" in why


def test_embedded_children_get_the_private_cluster_url_whatever_was_set():
    socket_url = "postgres://kizuna@:5432/kizuna?host=/srv/pg"
    env = load_run().child_environment(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/kizuna"},
        embedded=True,
        embedded_url=socket_url,
    )

    assert env["KIZUNA_EMBEDDED"] == "1"
    assert env["DATABASE_URL"] == socket_url


def test_the_dev_defaults_are_the_settings_defaults():
    run = load_run()

    assert run.DEFAULT_DATABASE_URL == settings.DEFAULT_DATABASE_URL
    assert run.DEFAULT_REDIS_URL == settings.DEFAULT_REDIS_URL


def test_the_private_cluster_url_reaches_django_as_a_socket(tmp_path):
    embedded_pg = load("embedded_pg")
    cluster = embedded_pg.EmbeddedPostgres(data_dir=tmp_path / "a b", bindir=tmp_path)

    config = environ.Env.db_url_config(cluster.url("kizuna"))

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "kizuna"
    assert config["USER"] == embedded_pg.SUPERUSER
    assert config["OPTIONS"]["host"] == str(tmp_path / "a b")


def test_missing_postgresql_binaries_are_named_with_the_package_to_install(tmp_path):
    embedded_pg = load("embedded_pg")
    environ_ = {"KIZUNA_PG_BINDIR": str(tmp_path)}

    with pytest.raises(embedded_pg.EmbeddedPostgresError, match="apt-get install postgresql"):
        embedded_pg.EmbeddedPostgres.from_environment(environ_)


def test_port_in_use_is_reported_clearly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [sys.executable, str(RUN_PY)],
            cwd=BASE_DIR,
            env={
                **os.environ,
                "KIZUNA_EMBEDDED": "1",
                "KIZUNA_EMBEDDED_PGDATA": str(tmp_path / "pg"),
                "PORT": str(port),
            },
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert result.returncode == 1
    assert f"port {port}" in result.stdout
    assert "already in use" in result.stdout
    assert not Path(tmp_path / "pg").exists()  # nothing was started


@pytest.mark.skipif(os.geteuid() != 0, reason="the cluster changes user only under root")
def test_as_root_a_checkout_in_a_private_folder_keeps_its_cluster_in_the_postgres_home(tmp_path):
    # pytest's base folder is private to root, as /root is on a new server.
    embedded_pg = load("embedded_pg")
    private = tmp_path / "var" / "embedded-pg"

    data_dir, why = embedded_pg.choose_data_dir({}, default=private)

    assert why is not None
    assert str(private.parent) in why
    assert data_dir.is_relative_to(pwd.getpwnam("postgres").pw_dir)
    assert embedded_pg.reachable_by("postgres", data_dir.parent)
    assert embedded_pg.choose_data_dir({"KIZUNA_EMBEDDED_PGDATA": str(private)})[0] == private


def test_the_worker_of_make_run_consumes_every_routed_queue():
    from tests.workers import ALL_QUEUES

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {"celery"}
    assert set(load_run().WORKER_QUEUES.split(",")) == routed
    assert set(ALL_QUEUES) == routed
