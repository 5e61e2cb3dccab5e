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
cargo clippy --locked --workspace --all-targets -- -D warnings

step "kestrel-core builds without Kafka, async, metrics, HTTP or file watching"
if cargo tree --locked -p kestrel-core -e normal | grep -E 'rdkafka|tokio|prometheus|tiny_http|notify'; then
  echo "kestrel-core depends on a service crate (above)" >&2
  exit 1
fi

step "build"
cargo build --locked --release

step "the shipped rule pack"
./target/release/kestrel rules check rules/
./target/release/kestrel rules test rules/

step "kestrel eval: the pack on labelled posts no rule was tuned to"
# Floors a change to the pack must not fall below (docs/rule-pack.md has the
# figures and the targets they are still short of). The held-out sets
# tests/data/eval/test*.jsonl are never read to write rules; test3 to test20
# are in the training data of the learned weights (scripts/train-weights.py;
# test6 to test20 since 2026-12-05 midday, so their floors now judge sets the
# weights learned from); test21 on are not, but for the recruitment model, which
# also learns from the read test21 and test24 (RETIRED_FOR). test19 and test20 were read
# after their one measurement (their misses led to the rules of 78e820d,
# f49b755 and 344ca23); test21, test22 and test23 measured those rules and
# the retrained weights; test24 was read after its one measurement (its false
# alarms led to the scored rules' unquoted()), and test25 measured that;
# test21 was read at 09:35 UTC on 2026-12-05 (its misses led to a lexicon round)
# and test27 measured that; test28 was read at 10:05 UTC (its Arabic
# recruitment misses led to an Arabic lexicon round) and test29 measured that. The pro-ISIS tweets are
# real posts labelled by a reader who never saw the rules.
eval_out=$(mktemp)
judge() {
  local name=$1; shift
  if ! ./target/release/kestrel eval --rules rules "$@" >"$eval_out"; then
    sed -n 1,16p "$eval_out"
    echo "kestrel eval: $name fell below its floors" >&2
    exit 1
  fi
  echo "-- $name"; sed -n 3,6p "$eval_out"
}
# per_lang LANG=RECRUITMENT/FINANCING...: the recall floors of each language.
per_lang() {
  local f lang v
  for f in "$@"; do
    lang=${f%%=*} v=${f#*=}
    printf -- '--floor recall:recruitment:%s=%s --floor recall:financing:%s=%s ' "$lang" "${v%/*}" "$lang" "${v#*/}"
  done
}
judge "held-out test set (tests/data/eval/test3.jsonl; the weights learned from it)" tests/data/eval/test3.jsonl \
  --floor recall:recruitment=0.81 --floor recall:financing=0.93 --floor false-alarm=0.014
judge "second held-out set (tests/data/eval/test4.jsonl: de and id positives; the weights learned from it)" tests/data/eval/test4.jsonl \
  --floor recall:recruitment=0.95 --floor recall:financing=0.92 --floor false-alarm=0.011
judge "third held-out set (tests/data/eval/test5.jsonl: en, fr, de, id; the weights learned from it)" tests/data/eval/test5.jsonl \
  --floor recall:recruitment=0.88 --floor recall:financing=0.95 --floor false-alarm=0.034
judge "fourth held-out set (tests/data/eval/test6.jsonl: en, fr, de, id; never read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test6.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.94 --floor false-alarm=0.034
judge "fifth held-out set (tests/data/eval/test7.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test7.jsonl \
  --floor recall:recruitment=0.93 --floor recall:financing=0.94 --floor false-alarm=0.035 \
  $(per_lang ar=0.88/0.91 ru=0.91/0.94)
judge "sixth held-out set (tests/data/eval/test8.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test8.jsonl \
  --floor recall:recruitment=0.93 --floor recall:financing=0.96 --floor false-alarm=0.060 \
  $(per_lang ar=0.91/0.94 ru=0.85/1.00)
judge "seventh held-out set (tests/data/eval/test9.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test9.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.95 --floor false-alarm=0.038 \
  $(per_lang ar=0.97/0.97 ru=0.82/1.00)
judge "eighth held-out set (tests/data/eval/test10.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test10.jsonl \
  --floor recall:recruitment=0.93 --floor recall:financing=0.94 --floor false-alarm=0.050 \
  $(per_lang ar=0.94/0.94 ru=0.82/0.88)
judge "ninth held-out set (tests/data/eval/test11.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday, measured once on its pack)" tests/data/eval/test11.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.95 --floor false-alarm=0.033 \
  $(per_lang ar=0.82/0.91 ru=0.94/0.97)
judge "tenth held-out set (tests/data/eval/test12.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday, measured once on its pack)" tests/data/eval/test12.jsonl \
  --floor recall:recruitment=0.90 --floor recall:financing=0.94 --floor false-alarm=0.030 \
  $(per_lang ar=0.82/0.88 ru=0.91/0.91)
judge "eleventh held-out set (tests/data/eval/test13.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday, measured once on its pack)" tests/data/eval/test13.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.96 --floor false-alarm=0.021 \
  $(per_lang ar=0.94/1.00 de=0.88/0.91 en=0.94/0.97 fr=0.94/0.97 id=0.91/1.00 ru=1.00/0.94)
judge "twelfth held-out set (tests/data/eval/test14.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday, measured once on its pack)" tests/data/eval/test14.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.98 --floor false-alarm=0.034 \
  $(per_lang ar=0.88/0.97 de=0.94/1.00 en=0.85/1.00 fr=0.97/0.94 id=1.00/1.00 ru=0.91/0.97)
judge "thirteenth held-out set (tests/data/eval/test15.jsonl: six languages; never read; the weights learned from it since 2026-12-05 midday, measured on its pack)" tests/data/eval/test15.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.98 --floor false-alarm=0.042 \
  $(per_lang ar=0.91/0.97 de=0.94/1.00 en=0.94/1.00 fr=0.91/1.00 id=1.00/0.97 ru=0.94/0.97)
judge "fourteenth held-out set (tests/data/eval/test16.jsonl: six languages, the harder kinds of call asked for; never read; the weights learned from it since 2026-12-05 midday, measured on its pack)" tests/data/eval/test16.jsonl \
  --floor recall:recruitment=0.88 --floor recall:financing=0.94 --floor false-alarm=0.034 \
  $(per_lang ar=0.85/0.88 de=0.97/0.94 en=0.85/0.97 fr=0.88/0.94 id=0.91/0.97 ru=0.82/0.97)
judge "fifteenth held-out set (tests/data/eval/test17.jsonl: six languages, the harder kinds of call asked for; never read; the weights learned from it since 2026-12-05 midday, measured once on each of the session's packs)" tests/data/eval/test17.jsonl \
  --floor recall:recruitment=0.88 --floor recall:financing=0.94 --floor false-alarm=0.030 \
  $(per_lang ar=0.88/0.85 de=0.88/0.91 en=0.88/0.97 fr=0.88/0.97 id=0.91/0.97 ru=0.80/0.97)
judge "sixteenth held-out set (tests/data/eval/test18.jsonl: two Russian authors, the harder kinds of call asked for; never read; the weights learned from it since 2026-12-05 midday, measured once on each of the session's packs)" tests/data/eval/test18.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.91 --floor false-alarm=0.063
judge "seventeenth held-out set (tests/data/eval/test19.jsonl: ten authors, two each for Arabic and Russian, the harder kinds of call asked for; one Arabic and one French author wrote negatives only; measured once on the pack of 6ac0b9a, then its misses were read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test19.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.91 --floor false-alarm=0.058 \
  $(per_lang ar=0.91/0.92 de=1.00/0.94 en=0.94/0.94 fr=0.94/0.97 id=0.94/0.82 ru=0.88/0.87)
judge "eighteenth held-out set (tests/data/eval/test20.jsonl: eight authors, two each for Arabic and Russian, test19's brief; measured once on the pack of 02ed436, then its misses were read; the weights learned from it since 2026-12-05 midday)" tests/data/eval/test20.jsonl \
  --floor recall:recruitment=0.90 --floor recall:financing=0.90 --floor false-alarm=0.050 \
  $(per_lang ar=0.87/0.90 de=0.88/0.88 en=0.88/0.94 fr=0.88/0.91 id=0.97/0.82 ru=0.91/0.92)
judge "nineteenth held-out set (tests/data/eval/test21.jsonl: eight authors, two each for Arabic and Russian, test19's brief; never trained on, measured once on the pack of f49b755, then on the retrained weights and unquoted frame scores of 2026-12-05 midday, then on the scored rules' unquoted(model) of becc3ba, then read: its misses led to a lexicon round, 2026-12-05 09:35 UTC)" tests/data/eval/test21.jsonl \
  --floor recall:recruitment=0.95 --floor recall:financing=0.93 --floor false-alarm=0.038 \
  $(per_lang ar=0.91/0.94 de=0.91/0.91 en=1.00/0.97 fr=0.97/1.00 id=0.94/0.88 ru=0.97/0.92)
judge "twentieth held-out set (tests/data/eval/test22.jsonl: two Indonesian authors, test19's brief, written because Indonesian financing was under 85% on test19-test21; never read, never trained on, measured on the packs of 344ca23 and ca95030, then on the retrained weights and unquoted frame scores of 2026-12-05 midday, then on becc3ba's; then on the recruitment model retrained with test21 and test24, 2026-12-05 10:00 UTC)" tests/data/eval/test22.jsonl \
  --floor recall:recruitment=0.91 --floor recall:financing=0.90 --floor false-alarm=0.013
judge "twenty-first held-out set (tests/data/eval/test23.jsonl: eight authors, two each for German and Indonesian, test19's brief; never read, never trained on, measured on the retrained weights of 2026-12-05 midday, then with unquoted frame scores (the same figures), then on becc3ba's; then on the recruitment model retrained with test21 and test24, 2026-12-05 10:00 UTC)" tests/data/eval/test23.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.93 --floor false-alarm=0.035 \
  $(per_lang ar=0.85/0.97 de=0.94/0.94 en=0.97/0.94 fr=0.85/0.97 id=0.94/0.91 ru=0.94/0.88)
judge "twenty-second held-out set (tests/data/eval/test24.jsonl: nine authors, two each for Arabic and Russian, test19's brief; never trained on, measured once on the pack of 4479902, then read)" tests/data/eval/test24.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.93 --floor false-alarm=0.028 \
  $(per_lang ar=0.87/0.92 de=0.97/0.97 en=0.97/1.00 fr=0.97/0.94 id=0.97/0.94 ru=0.97/0.88)
judge "twenty-third held-out set (tests/data/eval/test25.jsonl: eight authors, two each for Arabic and Russian, test19's brief; never read, never trained on, measured once on the pack of the scored rules' unquoted() and once on 4479902's; then on the recruitment model retrained with test21 and test24, 2026-12-05 10:00 UTC)" tests/data/eval/test25.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.93 --floor false-alarm=0.029 \
  $(per_lang ar=0.91/0.92 de=1.00/0.94 en=0.97/0.91 fr=0.91/0.94 id=0.94/0.91 ru=0.87/0.94)
judge "twenty-fourth held-out set (tests/data/eval/test26.jsonl: eight authors, two each for German and Indonesian, test19's brief; never read, never trained on, measured once on the pack of 4021936, once on 4479902's and once on 3b2e55f's; then on the recruitment model retrained with test21 and test24, 2026-12-05 10:00 UTC)" tests/data/eval/test26.jsonl \
  --floor recall:recruitment=0.91 --floor recall:financing=0.94 --floor false-alarm=0.025 \
  $(per_lang ar=0.88/0.88 de=0.91/0.94 en=0.91/0.94 fr=0.94/0.97 id=0.91/0.95 ru=0.94/0.94)
judge "twenty-fifth held-out set (tests/data/eval/test27.jsonl: eight authors, two each for German and Indonesian, test19's brief; never read, never trained on, measured once on the pack of that lexicon round and once on 7071699's pack, with the same figures; then on the recruitment model retrained with test21 and test24, 2026-12-05 10:00 UTC)" tests/data/eval/test27.jsonl \
  --floor recall:recruitment=0.91 --floor recall:financing=0.92 --floor false-alarm=0.022 \
  $(per_lang ar=0.88/0.91 de=0.94/0.85 en=0.97/0.91 fr=0.85/0.94 id=0.90/0.95 ru=0.94/0.97)
judge "twenty-sixth held-out set (tests/data/eval/test28.jsonl: eight authors, two each for Arabic and Russian, test19's brief; never trained on, measured once on the pack of 0536bd4 (Arabic recruitment 57/70, under 85%) and once on 7071699's, then read at 10:05 UTC: its Arabic misses led to an Arabic lexicon round)" tests/data/eval/test28.jsonl \
  --floor recall:recruitment=0.91 --floor recall:financing=0.94 --floor false-alarm=0.029 \
  $(per_lang ar=0.92/0.94 de=0.97/0.94 en=0.94/1.00 fr=0.88/0.97 id=0.88/0.88 ru=0.90/0.94)
judge "twenty-seventh held-out set (tests/data/eval/test29.jsonl: eight authors, three for Arabic, test19's brief; never read, never trained on, measured once on the pack of 47bfb4c and once on 7071699's)" tests/data/eval/test29.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.91 --floor false-alarm=0.016 \
  $(per_lang ar=0.91/0.92 de=0.94/0.88 en=0.97/0.97 fr=0.85/0.88 id=0.91/0.91 ru=0.94/0.88)
judge "dev set (tests/data/eval/dev.jsonl)" tests/data/eval/dev.jsonl \
  --floor recall:recruitment=0.98 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "second dev set (tests/data/eval/dev2.jsonl)" tests/data/eval/dev2.jsonl \
  --floor recall:recruitment=0.98 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "third dev set (tests/data/eval/dev3.jsonl)" tests/data/eval/dev3.jsonl \
  --floor recall:recruitment=0.97 --floor recall:financing=0.98 --floor false-alarm=0.008
judge "fourth dev set (tests/data/eval/dev4.jsonl, held out until it was read)" tests/data/eval/dev4.jsonl \
  --floor recall:recruitment=0.96 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "fifth dev set (tests/data/eval/dev5.jsonl, test3's registers)" tests/data/eval/dev5.jsonl \
  --floor recall:recruitment=0.93 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "sixth dev set (tests/data/eval/dev6.jsonl, test3's and test4's registers)" tests/data/eval/dev6.jsonl \
  --floor recall:recruitment=0.97 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "seventh dev set (tests/data/eval/dev7.jsonl, written from test3's and test4's briefs)" tests/data/eval/dev7.jsonl \
  --floor recall:recruitment=0.95 --floor recall:financing=0.97 --floor false-alarm=0.004
judge "eighth dev set (tests/data/eval/dev8.jsonl: de and id from test4's brief, en and fr negatives)" tests/data/eval/dev8.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "ninth dev set (tests/data/eval/dev9.jsonl: en, fr, de, id from the held-out sets' registers and briefs)" tests/data/eval/dev9.jsonl \
  --floor recall:recruitment=0.96 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "tenth dev set (tests/data/eval/dev10.jsonl: en, fr, de, id)" tests/data/eval/dev10.jsonl \
  --floor recall:recruitment=0.97 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "eleventh dev set (tests/data/eval/dev11.jsonl: en, fr, de, id)" tests/data/eval/dev11.jsonl \
  --floor recall:recruitment=0.96 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "twelfth dev set (tests/data/eval/dev12.jsonl: en, fr, de, id)" tests/data/eval/dev12.jsonl \
  --floor recall:recruitment=0.97 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "thirteenth dev set (tests/data/eval/dev13.jsonl: six languages)" tests/data/eval/dev13.jsonl \
  --floor recall:recruitment=0.97 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "fourteenth dev set (tests/data/eval/dev14.jsonl: en, ar, ru)" tests/data/eval/dev14.jsonl \
  --floor recall:recruitment=0.96 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "fifteenth dev set (tests/data/eval/dev15.jsonl: en, ar, ru)" tests/data/eval/dev15.jsonl \
  --floor recall:recruitment=0.98 --floor recall:financing=0.98 --floor false-alarm=0.004
judge "sixteenth dev set (tests/data/eval/dev16.jsonl: en supporter tweets, ar, ru)" tests/data/eval/dev16.jsonl \
  --floor recall:recruitment=0.96 --floor recall:financing=0.97 --floor false-alarm=0.004
judge "seventeenth dev set (tests/data/eval/dev17.jsonl: ar, fr, ru)" tests/data/eval/dev17.jsonl \
  --floor recall:recruitment=0.97 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "eighteenth dev set (tests/data/eval/dev18.jsonl: en supporter tweets, ar, ru)" tests/data/eval/dev18.jsonl \
  --floor recall:recruitment=0.92 --floor recall:financing=0.94 --floor false-alarm=0.004
judge "nineteenth dev set (tests/data/eval/dev19.jsonl: ordinary posts only, six languages)" tests/data/eval/dev19.jsonl \
  --floor false-alarm=0.007
judge "twentieth dev set (tests/data/eval/dev20.jsonl: two ar, fr, ru)" tests/data/eval/dev20.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.99 --floor false-alarm=0.004
judge "twenty-first dev set (tests/data/eval/dev21.jsonl: three ar, de, fr, ru)" tests/data/eval/dev21.jsonl \
  --floor recall:recruitment=0.94 --floor recall:financing=0.99 --floor false-alarm=0.009
judge "twenty-second dev set (tests/data/eval/dev22.jsonl: three ar, de, ru; not in the shipped weights)" tests/data/eval/dev22.jsonl \
  --floor recall:recruitment=0.87 --floor recall:financing=0.98 --floor false-alarm=0.060 \
  --floor recall:recruitment:ar=0.82
judge "twenty-third dev set (tests/data/eval/dev23.jsonl: two ar, de, en, fr; the harder kinds of call; the weights learned from it, no rule was written from it)" tests/data/eval/dev23.jsonl \
  --floor recall:recruitment=0.89 --floor recall:financing=0.98 --floor false-alarm=0.025
judge "twenty-fourth dev set (tests/data/eval/dev24.jsonl: two ar; the harder kinds of call; not in the shipped weights)" tests/data/eval/dev24.jsonl \
  --floor recall:recruitment=0.81 --floor recall:financing=0.95 --floor false-alarm=0.013
judge "twenty-fifth dev set (tests/data/eval/dev25.jsonl: two ru; the harder kinds of call; not in the shipped weights)" tests/data/eval/dev25.jsonl \
  --floor recall:recruitment=0.87 --floor recall:financing=0.95 --floor false-alarm=0.050
judge "first held-out set (tests/data/heldout/test.jsonl)" tests/data/heldout/test.jsonl \
  --floor recall:recruitment=0.96 --floor recall:financing=0.99 --floor false-alarm=0.004
if [ -f ../shared/corpus/isis_tweets.jsonl ]; then
  python3 scripts/isis-eval-set.py >"$eval_out.isis"
  judge "pro-ISIS tweets (tests/data/isis/labels.jsonl)" "$eval_out.isis" \
    --floor recall:recruitment=0.57 --floor false-alarm=0.020
  rm -f "$eval_out.isis"
fi
rm -f "$eval_out"

step "ordinary German and Russian text (fortunes-de, fortunes-ru) for the false-alarm test"
# tests/rule_pack.rs scans these beside the shared corpora: at most one alert
# in 2,000 posts (the detection issue's 0.05%).
[ -d /usr/share/games/fortunes/de ] && [ -d /usr/share/games/fortunes/ru ] || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fortunes-de fortunes-ru >/dev/null
}
mkdir -p target/fortunes
for lang in de ru; do
  python3 scripts/fortunes-jsonl.py "$lang" >"target/fortunes/$lang.jsonl"
  echo "fortunes-$lang: $(wc -l <"target/fortunes/$lang.jsonl") posts"
done

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
# openssl makes the certificates of the TLS and SASL tests (tests/kafka_security.rs).
command -v openssl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
}
command -v java >/dev/null && command -v mvn >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
}
scripts/kafka-dev.sh install
export PATH="$HOME/.cargo/bin:$PATH"
python3 -m pip install --quiet confluent-kafka kafka-python
# Here a test that cannot start its broker fails instead of skipping.
export KAFKA_TESTS_REQUIRED=1

step "fuzz targets, a bounded run each (docs/testing.md)"
# cargo fuzz needs a nightly toolchain (libFuzzer and the address sanitizer);
# the targets build the pure core crate (crates/kestrel-core), no Kafka or C code.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
fuzz_seconds=${FUZZ_SECONDS:-30}
(
  cd fuzz
  cargo +nightly fuzz build -O
  for t in $(cargo +nightly fuzz list); do
    fuzz_log=$(mktemp)
    # libFuzzer exits non-zero on a crash and writes the input to artifacts/.
    if ! cargo +nightly fuzz run -O "$t" -- -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 >"$fuzz_log" 2>&1; then
      tail -40 "$fuzz_log"
      echo "fuzz $t found a crash; the input is under fuzz/artifacts/$t" >&2
      exit 1
    fi
    echo "fuzz $t: $(grep -E '^Done' "$fuzz_log")"
    rm -f "$fuzz_log"
  done
)

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
kill_test=on_kafka_a_sigkill_between_produce_and_commit_leaves_no_copy_for_read_committed
cargo test --locked --release --workspace -- --skip "$kill_test" 2>&1 | tee "$log"
# The SIGKILL exactly-once test runs on its own, after the rest, as it did
# while its restarts were thought to stall (docs/testing.md).
cargo test --locked --release --test kafka_exactly_once -- --exact "$kill_test" 2>&1 | tee -a "$log"
# One closing line for the whole run: the sum of every test binary's counts.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
