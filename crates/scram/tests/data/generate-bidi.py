#!/usr/bin/env python3
"""Writes rfc3454-bidi.txt: RFC 3454 tables D.1 (bidi class R or AL) and D.2 (bidi class L).

Both tables are the Unicode 3.2 bidi classes of code points assigned in Unicode 3.2, which
Python still ships as unicodedata.ucd_3_2_0 (kept for IDNA). saslprep.rs tests its bidi
predicates against this file, so a newer Unicode in the unicode-bidi crate cannot silently
change which passwords SASLprep accepts.
"""
import unicodedata

UCD = unicodedata.ucd_3_2_0


def ranges(pred):
    out = []
    for cp in range(0x110000):
        if pred(chr(cp)):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return out


def assigned(c):
    return UCD.category(c) != "Cn"


with open("rfc3454-bidi.txt", "w") as f:
    f.write("# RFC 3454 D.1 (R = bidi R or AL) and D.2 (L), inclusive ranges; made by generate-bidi.py\n")
    for tag, classes in (("R", ("R", "AL")), ("L", ("L",))):
        for lo, hi in ranges(lambda c: assigned(c) and UCD.bidirectional(c) in classes):
            f.write(f"{tag} {lo:04X} {hi:04X}\n")
