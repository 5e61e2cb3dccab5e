#!/usr/bin/env bash
# The scan-speed workload of the engine's acceptance: `kestrel scan` on one
# core over about 40 MB of the shared corpora (concatenated, repeated 5
# times), with a pack of 10,000 caseless whole words (every k-th word of 7+
# letters of Debian's wamerican, 100 rules of 100 words, as benches/engine.rs
# builds it), beside two baselines in the same hyperfine run that read the
# same file and match the same 10,000 words caseless, with no folding and no
# word boundaries:
#   - benches/vectorscan-baseline: Rust, serde_json into a Value, vectorscan;
#   - benches/python-hyperscan-baseline.py: Python, json.loads, Hyperscan.
# Needs hyperfine, libvectorscan-dev, wamerican (apt) and hyperscan (pip);
# installs what is missing. Prints hyperfine's table and the ratios; figures
# go to docs/benchmarks.md. On a shared machine compare the CPU-time ratio
# (user+sys, printed last): wall time counts what the other tenants take.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS:-../shared/corpus}
repeat=${REPEAT:-5}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -e /usr/include/hs/hs.h ] || need+=(libvectorscan-dev)
[ -e /usr/share/dict/american-english ] || need+=(wamerican)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
python3 -c 'import hyperscan' 2>/dev/null || python3 -m pip install --quiet hyperscan

cargo build --release --locked --quiet --bin kestrel
(cd benches/vectorscan-baseline && cargo build --release --quiet)
baseline=benches/vectorscan-baseline/target/release/vectorscan-baseline

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq "$repeat"); do cat "$corpus"/*.jsonl; done > "$work/all.jsonl"

# The pack: the same words and shape as benches/engine.rs's generated pack.
mkdir "$work/rules"
python3 - "$work/rules/gen.yaml" "$work/words.txt" <<'PY'
import sys
words = [w.rstrip("\n") for w in open("/usr/share/dict/american-english", encoding="utf-8")]
words = [w for w in words if len(w) >= 7 and w.isascii() and w.isalpha() and w.islower()]
n = 10_000
step = max(len(words) // n, 1)
out = words[::step][:n]
i = 0
while len(out) < n:
    out.append(f"{words[i % len(words)]}ness{i}")
    i += 1
with open(sys.argv[1], "w") as f:
    f.write("rules:\n")
    for r in range(0, n, 100):
        chunk = ", ".join(f'"{w}"' for w in out[r:r + 100])
        f.write(f"  - id: gen.r{r // 100}\n    category: other\n    status: active\n"
                f"    terms:\n      w:\n        words: [{chunk}]\n")
with open(sys.argv[2], "w") as f:
    f.write("\n".join(out) + "\n")
PY
echo "posts: $(wc -l < "$work/all.jsonl"), bytes: $(wc -c < "$work/all.jsonl"), words: $(wc -l < "$work/words.txt")"

# Sanity: each reads every post; kestrel's summary line, the baselines' counts.
./target/release/kestrel scan --workers 1 --rules "$work/rules" "$work/all.jsonl" 2>&1 >/dev/null | tail -1
"$baseline" "$work/words.txt" "$work/all.jsonl"
python3 benches/python-hyperscan-baseline.py "$work/words.txt" "$work/all.jsonl"

hyperfine --warmup 1 --runs "${RUNS:-7}" --export-json "$work/times.json" --export-markdown "$work/table.md" \
  -n "kestrel scan, 1 worker" "./target/release/kestrel scan --quiet --workers 1 --rules $work/rules $work/all.jsonl > /dev/null" \
  -n "vectorscan+serde_json, 1 thread" "$baseline $work/words.txt $work/all.jsonl" \
  -n "Python json+Hyperscan" "python3 benches/python-hyperscan-baseline.py $work/words.txt $work/all.jsonl"
cat "$work/table.md"
python3 - "$work/times.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
k = r["kestrel scan, 1 worker"]
for name in ("vectorscan+serde_json, 1 thread", "Python json+Hyperscan"):
    b = r[name]
    kc, bc = k["user"] + k["system"], b["user"] + b["system"]
    print(f"kestrel speed relative to {name}: wall mean {b['mean'] / k['mean']:.2f}x, "
          f"wall min {b['min'] / k['min']:.2f}x, CPU (user+sys) {bc / kc:.2f}x")
PY
