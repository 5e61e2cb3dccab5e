#!/usr/bin/env python3
"""python-hyperscan-baseline PATTERNS FILE...: the reference loop a team would
write before kestrel. For every JSONL line: json.loads, take "text", and count
Hyperscan matches of the literals in PATTERNS (one per line, caseless, block
mode). Prints posts, matching posts and matches. Needs `pip install hyperscan`."""
import json
import re
import sys

import hyperscan


def main() -> None:
    patterns = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
    exprs = [re.escape(p).encode("utf-8") for p in patterns]
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=exprs,
        ids=list(range(len(exprs))),
        elements=len(exprs),
        flags=[hyperscan.HS_FLAG_CASELESS] * len(exprs),
    )
    posts = hit_posts = matches = 0
    count = [0]

    def on_match(_id, _start, _end, _flags, _ctx):
        count[0] += 1

    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    text = json.loads(line).get("text")
                except (ValueError, AttributeError):
                    continue
                if not isinstance(text, str):
                    continue
                posts += 1
                count[0] = 0
                db.scan(text.encode("utf-8"), match_event_handler=on_match)
                if count[0]:
                    hit_posts += 1
                matches += count[0]
    print(f"posts {posts}, matching posts {hit_posts}, matches {matches}")


if __name__ == "__main__":
    main()
