#!/usr/bin/env python3
"""Recall and false positives of a rule pack on a labeled JSONL set.

Usage: scripts/eval-heldout.py FILE [RULES_DIR] [-v]

Each line of FILE has id, lang, label (recruitment | financing | none), kind
and text. A positive counts as found when an alert (active or shadow) of its
label's category fires on it; a negative counts as a false positive when any
alert fires. -v lists the missed positives.
"""
import json, os, sys, subprocess, collections
args = [a for a in sys.argv[1:] if not a.startswith("-")]
f = args[0]; rules = args[1] if len(args) > 1 else "rules"
posts = {}
for l in open(f):
    p = json.loads(l); posts[p["id"]] = p
out = subprocess.run([os.environ.get("KESTREL", "target/release/kestrel"), "scan", "--quiet", "--rules", rules, f], capture_output=True, text=True).stdout
fired = collections.defaultdict(set)
for l in out.splitlines():
    a = json.loads(l); fired[a["post_id"]].add((a["rule"]["category"], a["shadow"]))
stats = collections.defaultdict(lambda: [0,0,0,0])  # tp fn fp tn per (lang)
tot = [0,0,0,0]; miss=[]; fps=[]
for pid, p in posts.items():
    cats = {c for c, sh in fired[pid]}   # active or shadow
    lab = p["label"]
    if lab == "none":
        if cats: tot[2]+=1; stats[p["lang"]][2]+=1; fps.append((pid, p["kind"], sorted(fired[pid])))
        else: tot[3]+=1; stats[p["lang"]][3]+=1
    else:
        if lab in cats: tot[0]+=1; stats[p["lang"]][0]+=1
        else: tot[1]+=1; stats[p["lang"]][1]+=1; miss.append((pid, p["kind"]))
print("overall tp=%d fn=%d fp=%d tn=%d recall=%.2f" % (tot[0], tot[1], tot[2], tot[3], tot[0]/max(1,tot[0]+tot[1])))
for lang, s in sorted(stats.items()): print(" ", lang, "tp=%d fn=%d fp=%d tn=%d" % tuple(s))
print("false positives:", fps)
if "-v" in sys.argv: print("missed:", miss)
