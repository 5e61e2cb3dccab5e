#!/usr/bin/env bash
# Every check kestrel's CI runs, in one command: formatting, lints, the
# shipped rule pack's own tests, a scan of the shared corpora, and the unit
# and integration tests. Installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
for c in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
done

step "promtool (the metrics and alert-rule tests run it)"
command -v promtool >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}
promtool --version | head -1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

step "build"
cargo build --locked --release

step "the shipped rule pack"
./target/release/kestrel rules check rules/
./target/release/kestrel rules test rules/

step "the README's main command"
./target/release/kestrel scan --rules rules examples/posts.jsonl > /dev/null

corpus=../shared/corpus
if [ -d "$corpus" ]; then
  step "kestrel scan over the shared corpora"
  for f in "$corpus"/*.jsonl; do
    ./target/release/kestrel scan --rules rules "$f" > /dev/null
  done
fi

step "the Kafka broker and clients the Kafka tests use"
# Apache Kafka's jars come from Maven Central once per machine (a cache
# folder, reused); the tests start their own brokers on free ports. Python
# clients nobody here wrote check the topics from the outside.
command -v java >/dev/null && command -v mvn >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
}
scripts/kafka-dev.sh install
export PATH="$HOME/.cargo/bin:$PATH"
python3 -m pip install --quiet confluent-kafka kafka-python
# Here a test that cannot start its broker fails instead of skipping.
export KESTREL_REQUIRE_BROKER=1

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --release 2>&1 | tee "$log"
# One closing line for the whole run: the sum of every test binary's counts.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
