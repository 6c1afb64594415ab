#!/usr/bin/env python3
"""Name generators in the style of real DGA families, for measuring the
dga detector.

Written for this project from what is publicly described about each
family (the label alphabet, the label length range and the TLD set in
published analyses and the DGArchive measurement study of Plohmann et
al., USENIX Security 2016).  They are NOT bit-exact reproductions of the
malware's algorithms: no seeds, dates or arithmetic of the real code are
reproduced, only the shape of the names the family is known to make.
That shape is what a name-only detector sees, so it is what matters for
measuring one.

Each family is a function (rng, n) -> list of n domain names.  FAMILIES
maps its name to (function, kind, description); kind is "random" (a
random string over a fixed alphabet, including hex and pronounceable
ones) or "dictionary" (words glued together).

Usage: scripts/accuracy/dga_families.py [N] [SEED]
prints N names of every family as "family<TAB>name".
"""

import random
import string
import sys

LOWER = string.ascii_lowercase
ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
VOWELS = "aeiouy"
CONSONANTS = "bcdfghjklmnpqrstvwxz"


def _names(rng, n, lengths, alphabet, tlds):
    out = []
    for _ in range(n):
        k = rng.randint(*lengths)
        out.append("".join(rng.choice(alphabet) for _ in range(k)) + "." +
                   rng.choice(tlds))
    return out


def conficker(rng, n):
    """Conficker.C: 4-9 lowercase letters, 110 TLDs (a few shown)."""
    return _names(rng, n, (4, 9), LOWER,
                  ["com", "net", "org", "info", "biz", "ws", "cn", "de",
                   "cc", "ag", "am", "at", "be", "ca", "ch", "cl", "cz"])


def cryptolocker(rng, n):
    """CryptoLocker: 12-15 lowercase letters."""
    return _names(rng, n, (12, 15), LOWER,
                  ["com", "net", "biz", "ru", "org", "co.uk", "info"])


def necurs(rng, n):
    """Necurs: 7-21 lowercase letters, 43 TLDs (a few shown)."""
    return _names(rng, n, (7, 21), LOWER,
                  ["tj", "in", "jp", "tw", "ac", "cm", "la", "mn", "so",
                   "sh", "sc", "nu", "nf", "mu", "ms", "mx", "ki", "im",
                   "cx", "cc", "tv", "bz", "me", "eu", "de", "ru", "co",
                   "su", "pw", "kz", "sx", "us", "com", "net", "org",
                   "biz", "pro"])


def ramnit(rng, n):
    """Ramnit: 8-19 lowercase letters, mostly .com."""
    return _names(rng, n, (8, 19), LOWER, ["com", "com", "com", "click",
                                           "bid", "eu"])


def murofet(rng, n):
    """Murofet (Zeus Licat): long lowercase labels, 32-48 letters."""
    return _names(rng, n, (32, 48), LOWER,
                  ["biz", "info", "org", "net", "com", "ru"])


def gameover(rng, n):
    """GameOver Zeus (newGOZ): 20-28 characters of [a-z0-9]."""
    return _names(rng, n, (20, 28), ALNUM, ["com", "net", "org", "biz"])


def pykspa(rng, n):
    """Pykspa: 6-15 lowercase letters."""
    return _names(rng, n, (6, 15), LOWER,
                  ["com", "net", "org", "info", "cc"])


def qakbot(rng, n):
    """Qakbot: 8-25 lowercase letters."""
    return _names(rng, n, (8, 25), LOWER,
                  ["com", "net", "org", "info", "biz"])


def ranbyus(rng, n):
    """Ranbyus: 14 lowercase letters."""
    return _names(rng, n, (14, 14), LOWER,
                  ["in", "me", "cc", "su", "tw", "net", "com", "pw", "org"])


def tinba(rng, n):
    """Tinba: 12 lowercase letters."""
    return _names(rng, n, (12, 12), LOWER,
                  ["com", "net", "in", "ru", "biz"])


def locky(rng, n):
    """Locky: 5-17 lowercase letters, mostly country-code TLDs."""
    return _names(rng, n, (5, 17), LOWER,
                  ["ru", "pw", "eu", "in", "yt", "pm", "us", "fr", "de",
                   "it", "be", "uk", "nl", "tf", "info", "org"])


def bamital(rng, n):
    """Bamital: an MD5 digest in hex, 32 characters."""
    return _names(rng, n, (32, 32), HEX,
                  ["info", "org", "co.cc", "cz.cc"])


def dyre(rng, n):
    """Dyre: one letter and 33 hex characters (a SHA-256 prefix)."""
    out = []
    tlds = ["cc", "ws", "to", "in", "hk", "cn", "tk", "so"]
    for _ in range(n):
        label = rng.choice(LOWER) + "".join(rng.choice(HEX)
                                            for _ in range(33))
        out.append(label + "." + rng.choice(tlds))
    return out


def simda(rng, n):
    """Simda: pronounceable, consonant and vowel alternating, 7-11."""
    out = []
    tlds = ["com", "net", "info", "eu", "biz", "org"]
    for _ in range(n):
        k = rng.randint(7, 11)
        label = "".join(rng.choice(CONSONANTS if i % 2 == 0 else VOWELS)
                        for i in range(k))
        out.append(label + "." + rng.choice(tlds))
    return out


# A short list of common English words, as the dictionary families ship
# their own (Suppobox's has a few hundred, Matsnu's nouns and verbs).
WORDS = """
able above across after again against almost alone along already also
always among answer appear area around arrive arrow attack autumn away
badly balance bank basket beauty became because become before began
begin behind believe below better between beyond bird black blood board
body bottle bought branch bread break bridge bright bring broken brother
brought build burn business busy cabin call came camp capital captain
care carry catch cause center certain chair chance change charge chief
child choose church circle city class clean clear climb clock close
cloud coast cold colony color column common company complete condition
consider contain continue control cook copy corner cotton could count
country course cover crowd current danger dark daughter dead decide
deep degree depend describe desert design detail develop differ direct
distant divide doctor dollar double dream dress drink drive during
early earth east education effect eight either electric element energy
engine enough enter equal evening event exact example except expect
experience explain family famous farmer father favor feather feeling
field figure final finger finish flower follow force forest forward
found fraction friend front garden gather general gentle glass govern
great green ground group grown guess happen happy heard heart heavy
history hold horse hospital hunt imagine indicate industry insect
instant interest island journey judge kitchen knowledge language large
laugh lawyer learn leave letter level light listen little machine
market master matter measure member method middle minute modern moment
money morning mother mountain music nation nature neighbor night north
notice number object observe ocean office order paper parent party
pattern people perhaps period person picture plant please pocket point
possible power practice present pretty problem produce product protect
question quick quiet radio rather reason record region remember repeat
report result river rocket round rubber safety science season second
select sense settle shoulder silver simple single sister smell soldier
speak spring square station steam stone story strange stream street
strong student study subject sudden summer supply surface system table
teacher thought thousand through together trouble village visit water
weather western whether window winter wonder wood world would write
yellow young
""".split()


def suppobox(rng, n):
    """Suppobox: two words of its list glued together, .net or .ru."""
    return ["%s%s.%s" % (rng.choice(WORDS), rng.choice(WORDS),
                         rng.choice(["net", "net", "ru"]))
            for _ in range(n)]


def matsnu(rng, n):
    """Matsnu: words (verbs and nouns) glued until 24 or more letters,
    sometimes with a hyphen between them, .com."""
    out = []
    for _ in range(n):
        parts = []
        while sum(len(p) for p in parts) < 24:
            parts.append(rng.choice(WORDS))
        sep = "-" if rng.random() < 0.3 else ""
        out.append(sep.join(parts) + ".com")
    return out


FAMILIES = {
    "conficker": (conficker, "random", "4-9 letters"),
    "cryptolocker": (cryptolocker, "random", "12-15 letters"),
    "necurs": (necurs, "random", "7-21 letters"),
    "ramnit": (ramnit, "random", "8-19 letters"),
    "murofet": (murofet, "random", "32-48 letters"),
    "gameover-zeus": (gameover, "random", "20-28 [a-z0-9]"),
    "pykspa": (pykspa, "random", "6-15 letters"),
    "qakbot": (qakbot, "random", "8-25 letters"),
    "ranbyus": (ranbyus, "random", "14 letters"),
    "tinba": (tinba, "random", "12 letters"),
    "locky": (locky, "random", "5-17 letters"),
    "bamital": (bamital, "random", "32 hex, half co.cc"),
    "dyre": (dyre, "random", "letter + 33 hex"),
    "simda": (simda, "random", "7-11 pronounceable"),
    "suppobox": (suppobox, "dictionary", "2 words"),
    "matsnu": (matsnu, "dictionary", "words to 24+"),
}


def generate(n, seed=1):
    """{family: [names]} with n names per family, reproducible."""
    out = {}
    for i, (name, (fn, _, _)) in enumerate(sorted(FAMILIES.items())):
        out[name] = fn(random.Random(seed * 1000 + i), n)
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for family, names in generate(n, seed).items():
        for name in names:
            print("%s\t%s" % (family, name))


if __name__ == "__main__":
    main()
