#!/usr/bin/env python3
"""Joins the shared pro-ISIS tweets with the hand labels in tests/data/isis/
into one labelled JSONL that `kestrel eval` reads.

Usage: scripts/isis-eval-set.py [CORPUS] [LABELS] > OUT.jsonl

Labelled calls keep their label (recruitment, financing); borderline tweets
are left out (neither a call nor an ordinary post); every other tweet is
`none`. The labels were made without looking at the rules, so the set
measures the pack; rules are never written from these tweets.
"""
import json
import sys

corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus/isis_tweets.jsonl"
labels_path = sys.argv[2] if len(sys.argv) > 2 else "tests/data/isis/labels.jsonl"
labels = {}
with open(labels_path, encoding="utf-8") as f:
    for line in f:
        if line.strip():
            l = json.loads(line)
            labels[l["id"]] = l
out = sys.stdout
with open(corpus, encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        post = json.loads(line)
        l = labels.get(post["id"])
        if l and l["label"] == "borderline":
            continue
        post["label"] = l["label"] if l else "none"
        if l:
            post["lang"] = l["lang"]
        out.write(json.dumps(post, ensure_ascii=False) + "\n")
