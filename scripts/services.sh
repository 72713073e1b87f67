#!/usr/bin/env bash
# Makes sure the services the tests use answer on localhost:
#   PostgreSQL on 127.0.0.1:5432 (trust auth, database "test"), Redis on 127.0.0.1:6379.
# Installs them from Debian's packages when missing, starts them when stopped.
# Safe to run again. Exits non-zero when one cannot be brought up.
set -u
status=0
updated=0

install_pkg() {
  dpkg -s "$1" >/dev/null 2>&1 && return 0
  if [ "$updated" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

wait_for() {  # wait_for <tries> <command...>
  local tries=$1; shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.3; done
  return 1
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

# --- PostgreSQL --------------------------------------------------------------------
if ! pg_ready 2>/dev/null; then
  install_pkg postgresql postgresql-client
  cluster_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$cluster_version" ]; then
    hba="/etc/postgresql/$cluster_version/main/pg_hba.conf"
    if ! grep -q '^host[[:space:]]\+all[[:space:]]\+all[[:space:]]\+127.0.0.1/32[[:space:]]\+trust' "$hba"; then
      printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | cat - "$hba" > "$hba.new" && mv "$hba.new" "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start >/dev/null 2>&1 \
      || pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main restart >/dev/null 2>&1
  fi
  wait_for 60 pg_ready
fi
if pg_ready 2>/dev/null; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database test" >/dev/null 2>&1
  echo "services: postgresql answering on 127.0.0.1:5432"
else
  echo "services: postgresql could not be started" >&2; status=1
fi

# --- Redis -------------------------------------------------------------------------
if ! redis_ready; then
  install_pkg redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/canvasflow-tests.log >/dev/null 2>&1
  wait_for 50 redis_ready
fi
if redis_ready; then
  echo "services: redis answering on 127.0.0.1:6379"
else
  echo "services: redis could not be started" >&2; status=1
fi
exit $status
