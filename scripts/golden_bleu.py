#!/usr/bin/env python3
"""Golden values for metrics/bleu (corpus BLEU as sacreBLEU computes it).

sacreBLEU is not installed on fovea's machines (no PyPI), so this script is an
independent, standard-library-only transcription of sacreBLEU 2.x's code path
for BLEU (sacrebleu/tokenizers/tokenizer_13a.py, tokenizer_re.py,
metrics/helpers.py extract_all_word_ngrams, metrics/bleu.py
_extract_reference_info, _get_closest_ref_len, _compute_segment_statistics,
compute_bleu; metrics/base.py _preprocess_segment). It first checks itself
against the values in sacreBLEU's own test/test_bleu.py, then prints the
cases metrics/bleu/bleu_test.go compares with, as Go literals:

    /usr/bin/python3 scripts/golden_bleu.py
"""
import math
import re
from collections import Counter

_RE = [
    (re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),
    (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),
    (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),
    (re.compile(r'([0-9])(-)'), r'\1 \2 '),
]


def tok13a(line):
    line = line.replace('<skipped>', '')
    line = line.replace('-\n', '')
    line = line.replace('\n', ' ')
    if '&' in line:
        line = line.replace('&quot;', '"')
        line = line.replace('&amp;', '&')
        line = line.replace('&lt;', '<')
        line = line.replace('&gt;', '>')
    line = f' {line} '
    for r, repl in _RE:
        line = r.sub(repl, line)
    return ' '.join(line.split())


def preprocess(s, tokenize, lowercase):
    if lowercase:
        s = s.lower()
    s = s.rstrip()
    return tok13a(s) if tokenize == '13a' else s


def ngrams(line, order):
    toks = line.split()
    out = []
    for n in range(1, order + 1):
        for i in range(len(toks) - n + 1):
            out.append(tuple(toks[i:i + n]))
    return Counter(out), len(toks)


def closest(hyp_len, ref_lens):
    cd, cl = -1, -1
    for rl in ref_lens:
        d = abs(hyp_len - rl)
        if cd == -1 or d < cd:
            cd, cl = d, rl
        elif d == cd and rl < cl:
            cl = rl
    return cl


def my_log(x):
    return -9999999999 if x == 0.0 else math.log(x)


def compute(correct, total, sys_len, ref_len, smooth='exp', value=None, eff=False, order=4):
    if value is None:
        value = {'none': None, 'floor': 0.1, 'add-k': 1, 'exp': None}[smooth]
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    prec = [0.0] * order
    if not any(correct):
        return 0.0, prec, bp
    sm = 1.0
    eo = order
    for n in range(1, order + 1):
        if smooth == 'add-k' and n > 1:
            correct[n - 1] += value
            total[n - 1] += value
        if total[n - 1] == 0:
            break
        if eff:
            eo = n
        if correct[n - 1] == 0:
            if smooth == 'exp':
                sm *= 2
                prec[n - 1] = 100. / (sm * total[n - 1])
            elif smooth == 'floor':
                prec[n - 1] = 100. * value / total[n - 1]
        else:
            prec[n - 1] = 100. * correct[n - 1] / total[n - 1]
    return bp * math.exp(sum(my_log(p) for p in prec[:eo]) / eo), prec, bp


def corpus(hyps, refs, tokenize='13a', smooth='exp', value=None, order=4, lowercase=False, eff=False):
    """refs[i] is the list of references of segment i."""
    stats = [0] * (2 + 2 * order)
    for h, rs in zip(hyps, refs):
        rng, rls = None, []
        for r in rs:
            c, l = ngrams(preprocess(r, tokenize, lowercase), order)
            rls.append(l)
            if rng is None:
                rng = c
            else:
                for g, k in c.items():
                    rng[g] = max(rng[g], k)
        hc, hl = ngrams(preprocess(h, tokenize, lowercase), order)
        s = [hl, closest(hl, rls)] + [0] * (2 * order)
        for g, k in hc.items():
            n = len(g) - 1
            s[2 + order + n] += k
            if g in rng:
                s[2 + n] += min(k, rng[g])
        stats = [a + b for a, b in zip(stats, s)]
    score, prec, bp = compute(stats[2:2 + order], stats[2 + order:], stats[0], stats[1], smooth, value, eff, order)
    return score, stats


# sacreBLEU's test/test_bleu.py (streams transposed to per-segment lists).
_refs = [
    ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
    ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
]
_hyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.']
REFS = [list(r) for r in zip(*_refs)]


def self_check():
    eps = 1e-8
    assert abs(corpus(_hyps, REFS)[0] - 48.530827) < eps
    assert corpus(['', '', ''], REFS)[0] == 0.0
    assert abs(corpus(_hyps, REFS, tokenize='none')[0] - 49.1919566) < eps
    assert abs(corpus(_hyps, REFS, smooth='none')[0] - 48.530827) < eps
    for order, want in [(1, "77.65"), (2, "60.50"), (3, "53.93"), (4, "48.53"), (5, "46.14"), (6, "43.28")]:
        assert f"{corpus(_hyps, REFS, order=order)[0]:.2f}" == want, order
    # raw_corpus_bleu: tokenize none, smooth floor 0.01.
    assert abs(corpus(["this is a fest"], [["this is a test"]], 'none', 'floor', .01)[0] / 100 - 0.223606797749979) < eps
    s = corpus(["am I am a character sequence"], [["I am a symbol string sequence a a"]], 'none', 'floor', .01)[1]
    assert s[2:] == [4, 2, 1, 0, 6, 5, 4, 3], s
    assert abs(compute([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, 'none')[0] / 100 - 0.8375922397) < eps
    for h, r, want in [("test", "a test", 0.3678794411714425), ("a little test", "a test", 0.03218297948685433)]:
        assert abs(corpus([h], [[r]], 'none', 'floor', .01, eff=True)[0] / 100 - want) < eps


CASES = [
    # name, hyps, refs, options (tokenize, smooth, order)
    ("multi-ref 3 refs", [
        "the cat sat on the mat .",
        "there is a cat on the mat",
        "A quick brown fox jumps over the lazy dog, again.",
        "He paid $3.50 (about 3,000 yen) on 2019-05-01!",
    ], [
        ["the cat is on the mat .", "there is a cat on the mat", "a cat sat upon the mat"],
        ["the cat is on the mat", "there is a cat on the mat ."],
        ["The quick brown fox jumped over the lazy dog again.", "A fast brown fox leaps over a lazy dog, again!", "A quick brown fox jumps over the lazy dog."],
        ["He paid $3.50 (around 3,000 yen) on 2019-05-01.", "On 2019-05-01 he paid 3.50 dollars."],
    ], '13a', 'exp', 4),
    ("tokenizer edge cases", [
        "&quot;Hello&quot; &amp; good-\nbye &lt;tag&gt; <skipped>x",
        "a.b,c 1.5 1,5 a. .b 1-2 x-y 'quoted' \"dq\"",
        "tabs\tand\u00a0nbsp\u3000ideographic\x1cfs   trailing   \t",
    ], [
        ["\"Hello\" & goodbye <tag> x"],
        ["a . b , c 1.5 1,5 a . . b 1 - 2 x-y 'quoted' \" dq \""],
        ["tabs and nbsp ideographic fs trailing"],
    ], '13a', 'exp', 4),
    ("exp smoothing: no 4-gram match", ["the the cat", "a b c d e"], [["the cat the", "cat the the"], ["a b x d e"]], '13a', 'exp', 4),
    ("no smoothing: no 4-gram match", ["the the cat", "a b c d e"], [["the cat the", "cat the the"], ["a b x d e"]], '13a', 'none', 4),
    ("floor smoothing", ["the the cat", "a b c d e"], [["the cat the", "cat the the"], ["a b x d e"]], '13a', 'floor', 4),
    ("add-k smoothing", ["the the cat", "a b c d e"], [["the cat the", "cat the the"], ["a b x d e"]], '13a', 'add-k', 4),
    ("brevity: short hypothesis, closest ref tie", ["one two three four five"],
     [["one two three four five six seven", "one two three four five six seven eight nine", "one two three"]], '13a', 'exp', 4),
]


def main():
    self_check()
    print("// generated by scripts/golden_bleu.py")
    for name, hyps, refs, tok, smooth, order in CASES:
        score, stats = corpus(hyps, refs, tok, smooth, None, order)
        print(f"{{{name!r}: score {score!r}, stats {stats}}}")
    for line in CASES[1][1] + CASES[0][1][2:]:
        print(f"tok13a({line!r}) = {tok13a(line.rstrip())!r}")


if __name__ == '__main__':
    main()
