#!/usr/bin/env bash
# Apache Kafka (KRaft, no ZooKeeper) on 127.0.0.1 for developing and testing
# kestrel run: the jars come from Maven Central, pinned, into a cache folder
# reused when present; no Docker, no build.
#
#   scripts/kafka-dev.sh install        fetch Kafka's jars once (needs java 17+ and mvn)
#   scripts/kafka-dev.sh classpath      print the folder whose jars are Kafka's classpath
#   scripts/kafka-dev.sh start          one broker (controller and broker in one process)
#   scripts/kafka-dev.sh start-cluster  three brokers (each also a controller) on three ports
#   scripts/kafka-dev.sh start-secure   one broker with TLS and SASL listeners beside the
#                                       plaintext one (see "Transport security" below)
#   scripts/kafka-dev.sh certs DIR      a CA, the broker's PKCS12 keystore and a second,
#                                       unrelated CA, made with openssl into DIR
#   scripts/kafka-dev.sh stop           stop whatever start or start-cluster started
#   scripts/kafka-dev.sh status         running or not
#   scripts/kafka-dev.sh create-topics  posts, alerts, posts.dlq (3 partitions each)
#   scripts/kafka-dev.sh run CLASS ARGS Kafka's own tools, e.g.
#       run org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
#           --bootstrap-server 127.0.0.1:9092 --describe --group kestrel
#
# KAFKA_DEV_PORT (default 9092; the cluster uses it and the next two),
# KAFKA_DEV_DIR (default target/kafka-dev: data, pid files, logs),
# KAFKA_DEV_CACHE (default ~/.cache/kestrel/kafka-$KAFKA_VERSION: the jars),
# KAFKA_DEV_HEAP (default 384m) change where and how it runs. TOPICS,
# PARTITIONS and REPLICATION change what create-topics creates.
#
# Transport security (start-secure): PLAINTEXT on $PORT as always (admin
# tools, create-topics), SSL on $PORT+1 and SASL_SSL on $PORT+2 with the
# mechanisms PLAIN and SCRAM-SHA-256. The CA and the broker's certificate
# (for 127.0.0.1 and localhost) are made by `certs` into $DIR/tls; clients
# trust $DIR/tls/ca.pem. One SASL user, $KAFKA_DEV_SASL_USER (default
# kestrel) with the password $KAFKA_DEV_SASL_PASSWORD (default
# kestrel-dev-password), for both mechanisms. Development only: the
# passwords are not secret.
set -euo pipefail
cd "$(dirname "$0")/.."

KAFKA_VERSION=4.1.1
CACHE="${KAFKA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kestrel/kafka-$KAFKA_VERSION}"
LIBS="$CACHE/libs"
PORT="${KAFKA_DEV_PORT:-9092}"
DIR="${KAFKA_DEV_DIR:-target/kafka-dev}"
HEAP="${KAFKA_DEV_HEAP:-384m}"
SASL_USER="${KAFKA_DEV_SASL_USER:-kestrel}"
SASL_PASSWORD="${KAFKA_DEV_SASL_PASSWORD:-kestrel-dev-password}"
# The broker's keystore password (PKCS12: the key has the same one).
STORE_PASSWORD=kestrel-dev-store
SECURE=

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "kafka-dev: $1 is missing ($2)" >&2
    exit 3
  }
}

install() {
  if [ -f "$CACHE/.complete" ]; then
    echo "Apache Kafka $KAFKA_VERSION is in $LIBS"
    return
  fi
  need java "Kafka $KAFKA_VERSION runs on Java 17 or later: apt-get install openjdk-17-jre-headless"
  need mvn "it fetches Kafka from Maven Central: apt-get install maven"
  echo "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $CACHE"
  local t0=$SECONDS work
  work=$(mktemp -d)
  # The broker (kafka_2.13: kafka.Kafka and kafka.tools.StorageTool), the
  # admin tools (kafka-tools: topics, consumer groups, perf tests) and the
  # log4j2 binding both log through.
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kestrel.dev</groupId>
  <artifactId>kafka-dev</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$CACHE"
  mkdir -p "$LIBS"
  mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$(cd "$LIBS" && pwd)"
  rm -rf "$work"
  cat >"$CACHE/log4j2.properties" <<'EOF'
# Warnings and errors only, on stderr: the broker's own log is its stderr.
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
logger.kafka.name = kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = error
EOF
  archive_classes
  touch "$CACHE/.complete"
  echo "Apache Kafka $KAFKA_VERSION: $(ls "$LIBS" | wc -l) jars, $(du -sh "$LIBS" | cut -f1), in $((SECONDS - t0)) s"
}

# A class-data-sharing archive of the classes a broker loads while it starts:
# with it a broker accepts connections in about a third of the time (5 s
# instead of 11 to 16 on two busy cores), which the tests, starting a broker
# each, pay many times.
archive_classes() {
  local tmp port id pid
  tmp=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PORT=$port DIR=$tmp node_config 1 1 >"$tmp/server.properties"
  id=$(cluster_id)
  ktool kafka.tools.StorageTool format -t "$id" -c "$tmp/server.properties" >/dev/null
  java -Xms64m -Xmx"$HEAP" -XX:+UseSerialGC -XX:ArchiveClassesAtExit="$CACHE/kafka.jsa" \
    -Dlog4j2.configurationFile="$CACHE/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$tmp/server.properties" >"$tmp/kafka.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 1200); do
    accepts "$port" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" || true
  rm -rf "$tmp"
  [ -f "$CACHE/kafka.jsa" ] || echo "kafka-dev: no class-data archive (brokers start slower)" >&2
}

# java with Kafka's classpath, a small heap and the quiet log configuration.
# Kafka's tools: short-lived, so a small heap and the quick JIT only.
ktool() {
  java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $(cds) \
    -Dlog4j2.configurationFile="$CACHE/log4j2.properties" \
    -cp "$LIBS/*" "$@"
}

cds() {
  [ -f "$CACHE/kafka.jsa" ] && echo "-XX:SharedArchiveFile=$CACHE/kafka.jsa -Xlog:cds=off -Xlog:cds+dynamic=off"
  true
}

# The text of the template $1 with each @NAME@ in it replaced by VALUE, for
# each NAME=VALUE argument after it; a placeholder left over is an error.
fill() {
  local template=$1 text pair
  text=$(<"$template")
  shift
  for pair in "$@"; do
    # Quoted, so that no character of the value (& or \) is special.
    text=${text//"@${pair%%=*}@"/"${pair#*=}"}
  done
  if [[ $text =~ @[A-Z_]+@ ]]; then
    echo "kafka-dev: $template has no value for ${BASH_REMATCH[0]}" >&2
    exit 1
  fi
  printf '%s\n' "$text"
}

# server.properties of node $1 of $2 (1 or 3) with client ports from $PORT and
# controller ports 100 above: scripts/kafka-server.properties (which the
# tests' brokers use too), then this broker's own segment size.
node_config() {
  local id=$1 n=$2 voters="" i
  for i in $(seq 1 "$n"); do
    voters="${voters:+$voters,}$i@127.0.0.1:$((PORT + 100 + i - 1))"
  done
  local rf=1 isr=1
  [ "$n" -ge 3 ] && rf=3 && isr=2
  fill scripts/kafka-server.properties NODE_ID="$id" VOTERS="$voters" \
    PORT="$((PORT + id - 1))" CONTROLLER_PORT="$((PORT + 100 + id - 1))" \
    NODE_DIR="$DIR/node-$id" RF="$rf" ISR="$isr"
  echo "log.segment.bytes=67108864"
}

# Listeners, keystore and SASL settings of a broker started by start-secure
# (appended to node_config's; later keys win): scripts/kafka-server-secure.properties.
secure_config() {
  local tls
  tls=$(cd "$DIR/tls" && pwd)
  fill scripts/kafka-server-secure.properties PORT="$PORT" \
    SSL_PORT="$((PORT + 1))" SASL_PORT="$((PORT + 2))" CONTROLLER_PORT="$((PORT + 100))" \
    KEYSTORE="$tls/broker.p12" STORE_PASSWORD="$STORE_PASSWORD" \
    SASL_USER="$SASL_USER" SASL_PASSWORD="$SASL_PASSWORD"
}

# A throwaway CA, a certificate for 127.0.0.1 and localhost signed by it in
# a PKCS12 keystore for the broker, and a second CA that signed nothing (a
# client trusting only it must fail the handshake). Files in $1: ca.pem,
# ca.key, broker.pem, broker.key, broker.p12 (password kestrel-dev-store),
# other-ca.pem. Kept when they are already there.
certs() {
  local out=$1
  need openssl "it makes the development CA and certificates: apt-get install openssl"
  mkdir -p "$out"
  [ -f "$out/ca.pem" ] && [ -f "$out/broker.p12" ] && return
  (
    cd "$out"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=kestrel development CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=an unrelated CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout other-ca.key -out other-ca.pem 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyAgreement\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -out broker.p12 -passout "pass:$STORE_PASSWORD"
    rm -f broker.csr broker.ext ca.srl other-ca.key
  )
}

# A cluster id as Kafka's random-uuid makes them (16 random bytes, base64url)
# without starting a JVM for it.
cluster_id() {
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='
}

pidfile() { echo "$DIR/node-$1/kafka.pid"; }

running() {
  local f
  f=$(pidfile "$1")
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_nodes() {
  local n=$1 id cluster
  install >/dev/null
  mkdir -p "$DIR"
  for id in $(seq 1 "$n"); do
    if running "$id"; then
      echo "Kafka node $id is already running (pid $(cat "$(pidfile "$id")")) on 127.0.0.1:$((PORT + id - 1))"
      continue
    fi
    mkdir -p "$DIR/node-$id"
    node_config "$id" "$n" >"$DIR/node-$id/server.properties"
    if [ -n "$SECURE" ]; then
      certs "$DIR/tls"
      secure_config >>"$DIR/node-$id/server.properties"
    fi
    if [ ! -f "$DIR/node-$id/data/meta.properties" ]; then
      if [ -f "$DIR/cluster.id" ]; then cluster=$(cat "$DIR/cluster.id")
      else cluster=$(cluster_id); echo "$cluster" >"$DIR/cluster.id"
      fi
      ktool kafka.tools.StorageTool format --ignore-formatted -t "$cluster" \
        -c "$DIR/node-$id/server.properties" >"$DIR/node-$id/format.log"
    fi
    nohup java -Xms64m -Xmx"$HEAP" -XX:+UseSerialGC $(cds) \
      -Dlog4j2.configurationFile="$CACHE/log4j2.properties" \
      -cp "$LIBS/*" kafka.Kafka "$DIR/node-$id/server.properties" \
      >>"$DIR/node-$id/kafka.log" 2>&1 &
    echo $! >"$(pidfile "$id")"
  done
  for id in $(seq 1 "$n"); do
    local port=$((PORT + id - 1)) ok=
    for _ in $(seq 1 600); do
      if accepts "$port"; then ok=1; break; fi
      if ! running "$id"; then
        echo "Kafka node $id exited; its log:" >&2
        tail -n 20 "$DIR/node-$id/kafka.log" >&2
        exit 1
      fi
      sleep 0.1
    done
    [ -n "$ok" ] || { echo "Kafka node $id did not accept connections within 60 s; log: $DIR/node-$id/kafka.log" >&2; exit 1; }
    echo "Apache Kafka $KAFKA_VERSION node $id is running (pid $(cat "$(pidfile "$id")")) on 127.0.0.1:$port, data and log in $DIR/node-$id"
  done
  if [ -n "$SECURE" ]; then
    # The SCRAM credentials live in the cluster's metadata: set (again)
    # through the plaintext listener.
    ktool kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$PORT" --alter \
      --add-config "SCRAM-SHA-256=[password=$SASL_PASSWORD]" \
      --entity-type users --entity-name "$SASL_USER" >/dev/null
    local ca
    ca=$(cd "$DIR/tls" && pwd)/ca.pem
    cat <<EOF
SSL on 127.0.0.1:$((PORT + 1)), SASL_SSL (PLAIN, SCRAM-SHA-256; user $SASL_USER) on 127.0.0.1:$((PORT + 2)).
kestrel over TLS:       brokers = "127.0.0.1:$((PORT + 1))" and
  [kafka.properties]
  "security.protocol" = "SSL"
  "ssl.ca.location" = "$ca"
kestrel over SASL_SSL:  brokers = "127.0.0.1:$((PORT + 2))" and
  [kafka.properties]
  "security.protocol" = "SASL_SSL"
  "ssl.ca.location" = "$ca"
  "sasl.mechanisms" = "SCRAM-SHA-256"
  "sasl.username" = "$SASL_USER"
  with the password in KESTREL_KAFKA__PROPERTIES__SASL_PASSWORD
EOF
  fi
}

stop() {
  local any= f pid
  for f in "$DIR"/node-*/kafka.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
      echo "Kafka $(basename "$(dirname "$f")") stopped"
      any=1
    fi
    rm -f "$f"
  done
  [ -n "$any" ] || echo "Kafka is not running"
}

status() {
  local any= f
  for f in "$DIR"/node-*/kafka.pid; do
    [ -f "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then
      echo "Kafka $(basename "$(dirname "$f")") is running (pid $(cat "$f"))"
      any=1
    fi
  done
  [ -n "$any" ] || { echo "Kafka is not running"; return 1; }
}

create_topics() {
  install >/dev/null
  local t
  for t in ${TOPICS:-posts alerts posts.dlq}; do
    ktool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" \
      --create --if-not-exists --topic "$t" --partitions "${PARTITIONS:-3}" \
      ${REPLICATION:+--replication-factor "$REPLICATION"}
  done
}

case "${1:-}" in
  install) install ;;
  classpath) install >/dev/null; echo "$LIBS" ;;
  start) start_nodes 1 ;;
  start-cluster) start_nodes 3 ;;
  start-secure) SECURE=1 start_nodes 1 ;;
  certs) [ -n "${2:-}" ] || { echo "usage: $0 certs DIR" >&2; exit 2; }; certs "$2" ;;
  stop) stop ;;
  status) status ;;
  create-topics) create_topics ;;
  run) shift; install >/dev/null; ktool "$@" ;;
  *) echo "usage: $0 install|classpath|start|start-cluster|start-secure|certs DIR|stop|status|create-topics|run CLASS ARGS" >&2; exit 2 ;;
esac
