#!/usr/bin/env bash
# kestrel scan end to end (read, parse, fold, match, evaluate, write) over the
# shared corpora, against a baseline in the same run: a Rust program that
# parses each line with serde_json into a Value and scans its text with
# vectorscan (Hyperscan) for the same literals, case-insensitively, with no
# folding and no word boundaries. Needs Debian's hyperfine and
# libvectorscan-dev (installed here when missing). Prints hyperfine's table;
# figures go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${RULES:-rules}
corpus=${CORPUS:-../shared/corpus}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -e /usr/include/hs/hs.h ] || need+=(libvectorscan-dev)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

cargo build --release --locked --quiet
(cd benches/vectorscan-baseline && cargo build --release --quiet)
baseline=benches/vectorscan-baseline/target/release/vectorscan-baseline

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat "$corpus"/*.jsonl > "$work/all.jsonl"
./target/release/kestrel rules literals "$rules" > "$work/literals.txt"
echo "posts: $(wc -l < "$work/all.jsonl"), bytes: $(wc -c < "$work/all.jsonl"), literals: $(wc -l < "$work/literals.txt")"

# Sanity: both read every post.
./target/release/kestrel scan --rules "$rules" "$work/all.jsonl" 2>&1 >/dev/null | head -1
"$baseline" "$work/literals.txt" "$work/all.jsonl"

# Start-up alone (rules loaded and compiled, an empty input), so the time
# spent on posts can be told apart from the time spent compiling.
: > "$work/empty.jsonl"
hyperfine --warmup 2 --runs "${RUNS:-15}" --export-markdown "$work/table.md" \
  -n "kestrel scan, 1 worker" "./target/release/kestrel scan --quiet --workers 1 --rules $rules $work/all.jsonl > /dev/null" \
  -n "vectorscan+serde_json, 1 thread" "$baseline $work/literals.txt $work/all.jsonl" \
  -n "kestrel scan, 2 workers" "./target/release/kestrel scan --quiet --workers 2 --rules $rules $work/all.jsonl > /dev/null" \
  -n "vectorscan+serde_json, 2 threads" "$baseline --threads 2 $work/literals.txt $work/all.jsonl" \
  -n "kestrel start-up (empty input)" "./target/release/kestrel scan --quiet --workers 1 --rules $rules $work/empty.jsonl > /dev/null" \
  -n "vectorscan start-up (empty input)" "$baseline $work/literals.txt $work/empty.jsonl"
cat "$work/table.md"
