#!/usr/bin/env python3
"""Rebuild rules/lists/ofac-sanctioned-*.txt from the OFAC SDN address lists.

Usage:
    scripts/build-sanctioned-lists.py [INDICATORS_DIR] [OUT_DIR]

INDICATORS_DIR defaults to ../shared/indicators (relative to the repository
root), OUT_DIR to rules/lists. The output is deterministic: no timestamps, the
same inputs always give byte-identical files, so `git diff` after a rebuild
shows exactly what changed upstream.

The built files are committed: kestrel must run from the repository alone,
without ../shared.

Each input line is kept as published (including odd entries: the XMR file
holds a 64-hex-digit transaction id, the BCH file mixes legacy and CashAddr
forms). For EVM addresses (0x + 40 hex digits, in the ETH and USDT files) the
list also carries the all-lower-case form and the EIP-55 checksummed form of
each address: an EVM address is case-insensitive on chain, and a post may
carry any of the three spellings, while the sanctioned-address rule matches
in the raw view (case-sensitive) so that base58 addresses stay exact.
"""
import hashlib
import os
import re
import sys

SOURCE_LINES = [
    "source: US Treasury OFAC Specially Designated Nationals (SDN) list,",
    "  as extracted by 0xB10C/ofac-sanctioned-digital-currency-addresses (MIT),",
    "  branch `lists`, 2024-09-27",
    "  https://github.com/0xB10C/ofac-sanctioned-digital-currency-addresses",
]

# input file -> (output file, human name)
FILES = [
    ("ofac_sanctioned_XBT.txt", "ofac-sanctioned-btc.txt", "Bitcoin (XBT)"),
    ("ofac_sanctioned_ETH.txt", "ofac-sanctioned-eth.txt", "Ethereum (ETH)"),
    ("ofac_sanctioned_USDT.txt", "ofac-sanctioned-usdt.txt", "Tether (USDT, on Ethereum and TRON)"),
    ("ofac_sanctioned_TRX.txt", "ofac-sanctioned-trx.txt", "TRON (TRX)"),
    ("ofac_sanctioned_XMR.txt", "ofac-sanctioned-xmr.txt", "Monero (XMR)"),
    ("ofac_sanctioned_LTC.txt", "ofac-sanctioned-ltc.txt", "Litecoin (LTC)"),
    ("ofac_sanctioned_BCH.txt", "ofac-sanctioned-bch.txt", "Bitcoin Cash (BCH)"),
]

EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")

# --- Keccak-256 (the pre-standard padding Ethereum uses; hashlib.sha3_256 differs)
_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [
    [0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56], [27, 20, 39, 8, 14],
]
_M = (1 << 64) - 1


def _rol(x, n):
    return ((x << n) | (x >> (64 - n))) & _M if n else x


def _keccak_f(a):
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)]
             for x in range(5)]
        a[0][0] ^= rc
    return a


def keccak256(data: bytes) -> bytes:
    rate = 136
    msg = bytearray(data)
    msg.append(0x01)
    while len(msg) % rate:
        msg.append(0)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            x, y = i % 5, i // 5
            a[x][y] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        a = _keccak_f(a)
    out = b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out[:32]


def eip55(addr: str) -> str:
    hexpart = addr[2:].lower()
    h = keccak256(hexpart.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c
                          for i, c in enumerate(hexpart))


def _self_test():
    # Known vectors: empty-string Keccak-256 and the EIP-55 specification examples.
    assert keccak256(b"").hex() == \
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    for a in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
              "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
              "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
              "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"):
        assert eip55(a) == a, a


def build(in_dir: str, out_dir: str) -> None:
    _self_test()
    os.makedirs(out_dir, exist_ok=True)
    for src, dst, name in FILES:
        path = os.path.join(in_dir, src)
        with open(path, "rb") as f:
            raw = f.read()
        digest = hashlib.sha256(raw).hexdigest()
        published = []
        for line in raw.decode("utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and line not in published:
                published.append(line)
        entries = list(published)
        seen = set(entries)
        variants = 0
        mismatched = []
        for addr in published:
            if not EVM.match(addr):
                continue
            hexpart = addr[2:]
            if hexpart != hexpart.lower() and hexpart != hexpart.upper() and eip55(addr) != addr:
                mismatched.append(addr)
            for form in ("0x" + hexpart.lower(), eip55(addr)):
                if form not in seen:
                    seen.add(form)
                    entries.append(form)
                    variants += 1
        if mismatched:
            sys.exit(f"{src}: mixed-case EVM addresses failing EIP-55: {mismatched}")
        header = [
            f"OFAC SDN sanctioned digital currency addresses: {name}",
            *SOURCE_LINES,
            f"input: {src} ({len(published)} entries as published, sha256 {digest})",
        ]
        if variants:
            header.append(
                f"entries: {len(entries)} = {len(published)} as published"
                f" + {variants} other spellings of the same EVM addresses"
                " (all-lower-case and EIP-55 checksummed)")
        else:
            header.append(f"entries: {len(entries)}")
        if src == "ofac_sanctioned_XMR.txt":
            header.append("note: one XMR entry is a 64-hex-digit transaction id, kept as published")
        if src == "ofac_sanctioned_BCH.txt":
            header.append("note: BCH entries mix legacy base58 and CashAddr (without the"
                          " `bitcoincash:` prefix), kept as published")
        header += [
            "built by: scripts/build-sanctioned-lists.py (do not edit by hand: rerun the script)",
            "used by: rules/financing/sanctioned-addresses.yaml (fin.sanctioned-address)",
        ]
        text = "".join(f"# {h}\n" for h in header) + "".join(f"{e}\n" for e in entries)
        with open(os.path.join(out_dir, dst), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"{dst}: {len(entries)} entries from {src}")


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    in_dir = argv[1] if len(argv) > 1 else os.path.join(root, "..", "shared", "indicators")
    out_dir = argv[2] if len(argv) > 2 else os.path.join(root, "rules", "lists")
    build(os.path.normpath(in_dir), out_dir)


if __name__ == "__main__":
    main(sys.argv)
