#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on their local ports for the tests.
# Starts them when installed but stopped; fails with the Debian package to install when absent.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if ls /etc/postgresql/*/main >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null; then
    echo "Starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  else
    echo "PostgreSQL is not installed: apt-get install postgresql (Debian package 'postgresql')" >&2
    exit 1
  fi
fi
pg_up || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }

if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "Starting Redis..."
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  else
    echo "Redis is not installed: apt-get install redis-server (Debian package 'redis-server')" >&2
    exit 1
  fi
fi
redis_up || { echo "Redis did not start on 127.0.0.1:6379" >&2; exit 1; }
