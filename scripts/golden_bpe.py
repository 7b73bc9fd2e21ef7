#!/usr/bin/python3
"""Second, optional check of models/lm's GPT-2 tokenizer: OpenAI's own encoder.py
algorithm (gpt-2/src/encoder.py, written out below; it needs Python's `regex` module,
Debian's python3-regex), run on GPT-2's files as committed in testdata/lm.

1. Every case of testdata/lm/bpe_golden.json (made by scripts/golden_bpe.js with the
   npm package gpt-3-encoder) must give the same ids here: the two independent encoders
   agree.
2. It writes testdata/lm/bpe_golden_py.json: strings with U+0085 (NEL) and U+FEFF (BOM),
   where JavaScript's \\s (gpt-3-encoder) differs from the regex module's \\s (White_Space:
   NEL is whitespace, BOM is not). models/lm follows encoder.py.

Run: /usr/bin/python3 scripts/golden_bpe.py
"""
import gzip
import json
import os

import regex as re

TD = os.path.join(os.path.dirname(__file__), "..", "testdata", "lm")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(n) for n in cs]))


def get_pairs(word):
    pairs = set()
    prev = word[0]
    for ch in word[1:]:
        pairs.add((prev, ch))
        prev = ch
    return pairs


class Encoder:
    def __init__(self, encoder, bpe_merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.bpe_ranks = dict(zip(bpe_merges, range(len(bpe_merges))))
        self.cache = {}
        self.pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        ids = []
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids


def main():
    with gzip.open(os.path.join(TD, "gpt2_encoder.json.gz"), "rt", encoding="utf-8") as f:
        encoder = json.load(f)
    with gzip.open(os.path.join(TD, "gpt2_vocab.bpe.gz"), "rt", encoding="utf-8") as f:
        bpe_data = f.read()
    merges = [tuple(m.split()) for m in bpe_data.split("\n")[1:-1]]
    enc = Encoder(encoder, merges)

    with open(os.path.join(TD, "bpe_golden.json"), encoding="utf-8") as f:
        golden = json.load(f)
    bad = 0
    for c in golden["cases"]:
        got = enc.encode(c["text"])
        if got != c["ids"]:
            bad += 1
            if bad <= 10:
                print("MISMATCH", json.dumps(c["text"]), got, c["ids"])
    print(f"encoder.py vs {golden['source']}: {len(golden['cases']) - bad}/{len(golden['cases'])} cases agree")

    texts = ["a\u0085b", "a \u0085 b", "x\u0085\u0085y", "end\u0085", "\u0085", " \u0085x",
             "\ufeffhello", "a\ufeffb", "a \ufeff b", "\ufeff\ufeff", "line\u0085\n next", "hi\u0085 there"]
    cases = [{"text": t, "ids": enc.encode(t)} for t in texts]
    body = '{"source":"encoder.py (regex %s)","cases":[\n' % re.__version__ + ",\n".join(
        json.dumps(c) for c in cases) + "\n]}\n"
    with open(os.path.join(TD, "bpe_golden_py.json"), "w", encoding="utf-8") as f:
        f.write(body)
    print(f"wrote {len(cases)} encoder.py-only cases")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
