#!/usr/bin/env python3
"""Ordinary text for false-alarm measurement: Debian fortune files as JSONL posts.

Usage: scripts/fortunes-jsonl.py LANG [DIR] > OUT.jsonl

LANG is a fortunes subdirectory (de, ru, fr: the Debian packages fortunes-de,
fortunes-ru, fortunes-fr install /usr/share/games/fortunes/LANG). Each fortune
(the text between lines holding a single "%") becomes one post
{"id": "fortunes-LANG-FILE-N", "lang": LANG, "text": ...}. Files ending in
.dat (indexes) and .u8 (symlinks to the same text) are skipped; a file that is
not UTF-8 is read as Latin-1 (older German files). Write the output outside the
repository or under target/: it is measurement input, never a rule source.
"""
import json
import os
import sys


def fortunes(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    entry = []
    for line in text.splitlines():
        if line.strip() == "%":
            if entry:
                yield "\n".join(entry).strip()
            entry = []
        else:
            entry.append(line)
    if entry:
        yield "\n".join(entry).strip()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    lang = sys.argv[1]
    root = sys.argv[2] if len(sys.argv) > 2 else os.path.join("/usr/share/games/fortunes", lang)
    if not os.path.isdir(root):
        sys.exit(f"{root}: no such directory (install fortunes-{lang})")
    out = sys.stdout
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
            continue
        for n, text in enumerate(fortunes(path), 1):
            if text:
                post = {"id": f"fortunes-{lang}-{name}-{n}", "lang": lang, "text": text}
                out.write(json.dumps(post, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
