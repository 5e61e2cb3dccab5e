#!/usr/bin/env bash
# A local Kafka-compatible broker for developing and testing kestrel run:
# tansu, pinned, on 127.0.0.1, in the background.
#
#   scripts/kafka-dev.sh install        install tansu 0.6.0 if it is missing
#   scripts/kafka-dev.sh start          install if needed, start, wait until it accepts connections
#   scripts/kafka-dev.sh stop           stop it
#   scripts/kafka-dev.sh status         running or not
#   scripts/kafka-dev.sh create-topics  posts, alerts, posts.dlq (3 partitions each)
#
# For development and tests only: tansu has no transactions, and 0.6.0
# answers a fetch from an offset inside a record batch with the next batch,
# so a consumer resuming mid-batch skips posts (docs/operations.md).
#
# KAFKA_DEV_PORT (default 9092), KAFKA_DEV_DIR (default target/kafka-dev: pid
# file, log) and KAFKA_DEV_STORAGE (default memory://tansu/; sqlite://FILE
# keeps data across restarts) change where and how it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_VERSION=0.6.0
PORT="${KAFKA_DEV_PORT:-9092}"
DIR="${KAFKA_DEV_DIR:-target/kafka-dev}"
STORAGE="${KAFKA_DEV_STORAGE:-memory://tansu/}"
PIDFILE="$DIR/tansu.pid"
LOG="$DIR/tansu.log"
URL="tcp://127.0.0.1:$PORT"

tansu_bin() {
  if command -v tansu >/dev/null 2>&1; then command -v tansu
  elif [ -x "$HOME/.cargo/bin/tansu" ]; then echo "$HOME/.cargo/bin/tansu"
  else return 1
  fi
}

install() {
  if bin=$(tansu_bin) && "$bin" --version 2>/dev/null | grep -q " $TANSU_VERSION\$"; then
    echo "tansu $TANSU_VERSION is installed: $bin"
    return
  fi
  echo "installing tansu $TANSU_VERSION (a Rust build: about 20 minutes on 2 cores)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

start() {
  install
  if running; then
    echo "tansu is already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
    return
  fi
  mkdir -p "$DIR"
  bin=$(tansu_bin)
  nohup "$bin" broker --listener-url "$URL" --advertised-listener-url "$URL" \
    --storage-engine "$STORAGE" >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 300); do
    if accepts; then
      echo "tansu is running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT, storage $STORAGE, log $LOG"
      return
    fi
    if ! running; then
      echo "tansu exited; its log:" >&2
      tail -n 20 "$LOG" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "tansu did not accept connections within 30 s; log: $LOG" >&2
  exit 1
}

stop() {
  if running; then
    pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "tansu stopped"
  else
    echo "tansu is not running"
  fi
  rm -f "$PIDFILE"
}

status() {
  if running; then
    echo "tansu is running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
  else
    echo "tansu is not running"
    return 1
  fi
}

create_topics() {
  bin=$(tansu_bin)
  for t in ${TOPICS:-posts alerts posts.dlq}; do
    "$bin" topic create "$t" --partitions "${PARTITIONS:-3}" --broker "$URL"
    echo "topic $t"
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  create-topics) create_topics ;;
  *) echo "usage: $0 install|start|stop|status|create-topics" >&2; exit 2 ;;
esac
