#!/usr/bin/env bash
# Starts what the test suite needs when it is not already running:
# PostgreSQL on 127.0.0.1:5432 (user root, trust auth) and NATS with JetStream on 127.0.0.1:4222.
# Installs them from Debian's packages on a fresh machine.
set -euo pipefail

apt_ready=""
apt_install() {
  if [ -z "$apt_ready" ]; then
    apt-get update -qq
    apt_ready=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

ensure_postgres() {
  if port_open 5432; then return; fi
  echo "starting PostgreSQL"
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\"" | grep -q 1 \
    || su postgres -c "createuser -s root"
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 \
    || su postgres -c "createdb test"
}

ensure_nats() {
  if port_open 4222; then return; fi
  echo "starting NATS with JetStream"
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  local bin
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$bin" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 30); do port_open 4222 && break; sleep 1; done
}

ensure_moto() {
  if command -v moto_server >/dev/null 2>&1; then return; fi
  echo "installing moto (a local S3-compatible server for the attachment tests)"
  python3 -m pip install -q 'moto[server]'
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
}

# The release tests/api.rs was written against (its flags and checks change between releases).
SCHEMATHESIS_VERSION=4.32.5

ensure_schemathesis() {
  if schemathesis --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
    return
  fi
  echo "installing Schemathesis $SCHEMATHESIS_VERSION (the API fuzzing run in tests/api.rs)"
  python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
  echo "installing Chromium and chromedriver (the web pages' browser tests)"
  apt_install chromium chromium-driver
}

ensure_postgres
ensure_nats
ensure_moto
ensure_schemathesis
ensure_chromium

# Drop test databases that earlier runs left behind (a test that fails keeps its database).
psql -h 127.0.0.1 -U root -d postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'hub\_test\_%'" \
  | while read -r name; do
      [ -n "$name" ] && psql -h 127.0.0.1 -U root -d postgres -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
    done
