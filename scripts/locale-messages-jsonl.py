#!/usr/bin/env python3
"""Ordinary text in a language without a post corpus: installed gettext
translations (.mo) as JSONL posts, for false-alarm measurement only.

Usage: scripts/locale-messages-jsonl.py LANG [MIN_CHARS] > OUT.jsonl

Reads /usr/share/locale/LANG/LC_MESSAGES/*.mo and writes every translated
message of at least MIN_CHARS characters (default 21) as
{"id": "mo-LANG-FILE-N", "lang": LANG, "text": ...}. Interface text is a weak
stand-in for posts (short, technical), so report it as such. Write the output
outside the repository or under target/.
"""
import gettext
import glob
import json
import os
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    lang = sys.argv[1]
    min_chars = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    files = sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo"))
    if not files:
        sys.exit(f"no .mo files for {lang} under /usr/share/locale")
    n = 0
    for path in files:
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except (OSError, ValueError, UnicodeDecodeError) as e:
            print(f"{path}: {e}", file=sys.stderr)
            continue
        for text in catalog.values():
            if isinstance(text, str) and len(text) >= min_chars:
                n += 1
                post = {"id": f"mo-{lang}-{os.path.basename(path)}-{n}", "lang": lang, "text": text}
                sys.stdout.write(json.dumps(post, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
