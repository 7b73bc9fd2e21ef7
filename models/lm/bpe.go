package lm

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Tokenizer turns text into token ids and back.
type Tokenizer interface {
	// Encode returns the ids of text; special-token strings are ordinary text.
	Encode(text string) []int
	// Decode returns the bytes the ids stand for, as a string (which need not be valid
	// UTF-8 when the ids end inside a character).
	Decode(ids []int) string
	// VocabSize is one more than the largest id.
	VocabSize() int
}

// BPE is GPT-2's byte-level byte-pair-encoding tokenizer (OpenAI's encoder.py; Hugging
// Face's GPT2Tokenizer): text is split by GPT-2's pre-tokenisation pattern
// (PreTokenize), each piece's UTF-8 bytes are mapped to printable characters
// (ByteToUnicode), and the merges are applied lowest rank first until none applies; the
// resulting symbols are looked up in the vocabulary. Every string, valid UTF-8 or not,
// encodes, and Decode(Encode(s)) == s.
//
// A BPE is safe for concurrent use; it caches the encoding of the pieces it has seen.
type BPE struct {
	vocab   map[string]int // token (in ByteToUnicode form) → id
	tokens  []string       // id → token ("" for unused ids)
	raw     [][]byte       // id → the bytes it stands for
	byteID  [256]int32     // byte → id of its one-byte token
	merges  map[uint64]merge
	special []string // recognised by EncodeSpecial, longest first

	mu    sync.Mutex
	cache map[string][]int32
}

type merge struct {
	rank int32
	id   int32 // the merged token
}

// cacheLimit bounds the number of pieces a BPE remembers (the cache is emptied when full).
const cacheLimit = 1 << 16

// byteToRune and runeToByte are GPT-2's bytes_to_unicode table and its inverse.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	inv := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = rune(256 + n)
			n++
		}
		fwd[b] = r
		inv[r] = byte(b)
	}
	return fwd, inv
}()

// ByteToUnicode returns GPT-2's map from bytes to the characters that stand for them in
// the vocabulary and merges files: the printable Latin-1 bytes ('!'…'~', '¡'…'¬',
// '®'…'ÿ') map to themselves, the other 68 to U+0100, U+0101, … in byte order (the
// space 0x20 becomes 'Ġ', U+0120).
func ByteToUnicode() [256]rune { return byteToRune }

// NewBPE builds a tokenizer from a vocabulary (token → id, tokens written with
// ByteToUnicode) and the merges in rank order. Every byte's one-character token and
// every merge's two parts and result must be in the vocabulary. A vocabulary token
// "<|endoftext|>" is registered as special for EncodeSpecial.
func NewBPE(vocab map[string]int, merges [][2]string) (*BPE, error) {
	t := &BPE{vocab: vocab, merges: make(map[uint64]merge, len(merges)), cache: map[string][]int32{}}
	size := 0
	for tok, id := range vocab {
		if id < 0 || id > 1<<30 {
			return nil, fmt.Errorf("lm.NewBPE: token %q has id %d", tok, id)
		}
		size = max(size, id+1)
	}
	t.tokens = make([]string, size)
	t.raw = make([][]byte, size)
	for tok, id := range vocab {
		if t.tokens[id] != "" {
			return nil, fmt.Errorf("lm.NewBPE: id %d given to both %q and %q", id, t.tokens[id], tok)
		}
		t.tokens[id] = tok
		t.raw[id] = tokenBytes(tok)
	}
	for b := 0; b < 256; b++ {
		id, ok := vocab[string(byteToRune[b])]
		if !ok {
			return nil, fmt.Errorf("lm.NewBPE: byte 0x%02x (token %q) is not in the vocabulary", b, string(byteToRune[b]))
		}
		t.byteID[b] = int32(id)
	}
	for rank, mg := range merges {
		a, okA := vocab[mg[0]]
		b, okB := vocab[mg[1]]
		c, okC := vocab[mg[0]+mg[1]]
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("lm.NewBPE: merge %d (%q %q): a part or the result is not in the vocabulary", rank, mg[0], mg[1])
		}
		// A repeated pair takes its last rank, as encoder.py's dict(zip(merges, range(…))).
		t.merges[pairKey(int32(a), int32(b))] = merge{rank: int32(rank), id: int32(c)}
	}
	if _, ok := vocab["<|endoftext|>"]; ok {
		t.special = []string{"<|endoftext|>"}
	}
	return t, nil
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// tokenBytes maps a vocabulary token back to its bytes; a token with characters outside
// the byte table (an added token) stands for its own UTF-8.
func tokenBytes(tok string) []byte {
	out := make([]byte, 0, len(tok))
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return []byte(tok)
		}
		out = append(out, b)
	}
	return out
}

// ReadBPE reads a tokenizer from GPT-2's two files: the vocabulary JSON (vocab.json,
// alias encoder.json: {"token": id, …}) and the merges (merges.txt, alias vocab.bpe: a
// "#version" line, then one "left right" pair per line in rank order).
func ReadBPE(vocab, merges io.Reader) (*BPE, error) {
	var v map[string]int
	if err := json.NewDecoder(vocab).Decode(&v); err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	var ms [][2]string
	sc := bufio.NewScanner(merges)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSuffix(sc.Text(), "\r")
		if (line == 1 && strings.HasPrefix(s, "#version")) || s == "" {
			continue
		}
		parts := strings.Split(s, " ")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("merges: line %d: %q is not two tokens separated by one space", line, s)
		}
		ms = append(ms, [2]string{parts[0], parts[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	return NewBPE(v, ms)
}

// LoadBPEFiles reads a tokenizer from a vocabulary and a merges file (see ReadBPE);
// names ending in ".gz" are decompressed. Errors name the file.
func LoadBPEFiles(vocabPath, mergesPath string) (*BPE, error) {
	vr, vclose, err := openMaybeGzip(vocabPath)
	if err != nil {
		return nil, err
	}
	defer vclose()
	mr, mclose, err := openMaybeGzip(mergesPath)
	if err != nil {
		return nil, err
	}
	defer mclose()
	t, err := ReadBPE(vr, mr)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", vocabPath, mergesPath, err)
	}
	return t, nil
}

// LoadBPE reads the tokenizer of a model folder: vocab.json + merges.txt (Hugging
// Face's names) or encoder.json + vocab.bpe (OpenAI's).
func LoadBPE(dir string) (*BPE, error) {
	for _, names := range [][2]string{{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}} {
		v, mg := filepath.Join(dir, names[0]), filepath.Join(dir, names[1])
		if _, err := os.Stat(v); err == nil {
			return LoadBPEFiles(v, mg)
		}
	}
	return nil, fmt.Errorf("%s: no vocab.json + merges.txt nor encoder.json + vocab.bpe", dir)
}

func openMaybeGzip(path string) (io.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return bufio.NewReader(f), func() { f.Close() }, nil
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return z, func() { z.Close(); f.Close() }, nil
}

// VocabSize is one more than the largest id (50257 for GPT-2).
func (t *BPE) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a vocabulary token (written with ByteToUnicode, e.g.
// "Ġthe"), and whether there is one.
func (t *BPE) TokenID(tok string) (int, bool) {
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the vocabulary token of id (written with ByteToUnicode), "" for an
// unused id.
func (t *BPE) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		panic(fmt.Sprintf("lm.BPE.Token: id %d out of range [0, %d)", id, len(t.tokens)))
	}
	return t.tokens[id]
}

// SetSpecial replaces the special tokens that EncodeSpecial recognises; each must be
// in the vocabulary.
func (t *BPE) SetSpecial(tokens ...string) error {
	for _, s := range tokens {
		if _, ok := t.vocab[s]; !ok || s == "" {
			return fmt.Errorf("lm.BPE.SetSpecial: %q is not in the vocabulary", s)
		}
	}
	t.special = sortSpecial(tokens)
	return nil
}

func sortSpecial(tokens []string) []string {
	s := slices.Clone(tokens)
	slices.SortStableFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}

// Encode returns the token ids of text, as OpenAI's encoder.py (and the gpt-3-encoder
// package) encode it: special-token strings such as "<|endoftext|>" are ordinary text.
// Invalid UTF-8 bytes are encoded as themselves (each is a piece of the "other" class).
func (t *BPE) Encode(text string) []int {
	var out []int
	preTokenize(text, func(piece string) {
		for _, id := range t.word(piece) {
			out = append(out, int(id))
		}
	})
	return out
}

// EncodeSpecial is Encode with the special tokens (by default "<|endoftext|>"; see
// SetSpecial) recognised in text and given their ids, as Hugging Face's GPT2Tokenizer
// does with its added tokens.
func (t *BPE) EncodeSpecial(text string) []int {
	var out []int
	splitSpecial(text, t.special, func(seg string, special bool) {
		if special {
			out = append(out, t.vocab[seg])
			return
		}
		out = append(out, t.Encode(seg)...)
	})
	return out
}

// splitSpecial calls fn with the parts of text between occurrences of specials (tried
// longest first at each position) and with each occurrence.
func splitSpecial(text string, specials []string, fn func(seg string, special bool)) {
	start := 0
	for i := 0; i < len(text); {
		found := ""
		for _, s := range specials {
			if strings.HasPrefix(text[i:], s) {
				found = s
				break
			}
		}
		if found == "" {
			i++
			continue
		}
		if start < i {
			fn(text[start:i], false)
		}
		fn(found, true)
		i += len(found)
		start = i
	}
	if start < len(text) {
		fn(text[start:], false)
	}
}

// Decode returns the bytes of the ids' tokens, concatenated (a special token gives its
// own text).
func (t *BPE) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || id >= len(t.raw) {
			panic(fmt.Sprintf("lm.BPE.Decode: id %d out of range [0, %d)", id, len(t.raw)))
		}
		sb.Write(t.raw[id])
	}
	return sb.String()
}

// word returns the ids of one pre-tokenised piece.
func (t *BPE) word(piece string) []int32 {
	t.mu.Lock()
	ids, ok := t.cache[piece]
	t.mu.Unlock()
	if ok {
		return ids
	}
	w := make([]int32, len(piece))
	for i := 0; i < len(piece); i++ {
		w[i] = t.byteID[piece[i]]
	}
	for len(w) > 1 {
		// The pair of lowest rank, then every occurrence of it merged left to right
		// (encoder.py's bpe loop).
		best := merge{rank: -1}
		var bestA, bestB int32
		for i := 0; i+1 < len(w); i++ {
			if m, ok := t.merges[pairKey(w[i], w[i+1])]; ok && (best.rank < 0 || m.rank < best.rank) {
				best, bestA, bestB = m, w[i], w[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		j := 0
		for i := 0; i < len(w); {
			if i+1 < len(w) && w[i] == bestA && w[i+1] == bestB {
				w[j] = best.id
				i += 2
			} else {
				w[j] = w[i]
				i++
			}
			j++
		}
		w = w[:j]
	}
	t.mu.Lock()
	if len(t.cache) >= cacheLimit {
		clear(t.cache)
	}
	t.cache[piece] = w
	t.mu.Unlock()
	return w
}

// Character classes of GPT-2's pattern.
const (
	classLetter = iota // \p{L}
	classNumber        // \p{N}
	classSpace         // \s (Unicode White_Space, as Python's regex module)
	classOther         // everything else, invalid UTF-8 bytes included
)

func classOf(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// PreTokenize splits text into the pieces GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// finds (with Python's regex module, whose \s is Unicode's White_Space property), in
// order; the pieces concatenate back to text. Go's regexp has no look-ahead, so the
// split is written out: at each position the first alternative that matches wins, each
// run is as long as possible, and a whitespace run followed by a non-space character
// leaves its last character to the next piece (" world" keeps its space). Invalid UTF-8
// bytes count as "other" characters.
func PreTokenize(text string) []string {
	var out []string
	preTokenize(text, func(p string) { out = append(out, p) })
	return out
}

func preTokenize(s string, emit func(string)) {
	decode := func(i int) (rune, int, int) {
		r, n := utf8.DecodeRuneInString(s[i:])
		return r, n, classOf(r)
	}
	for i := 0; i < len(s); {
		r, n, cls := decode(i)
		// 's 't 're 've 'm 'll 'd
		if r == '\'' {
			if l := contraction(s[i+1:]); l > 0 {
				emit(s[i : i+1+l])
				i += 1 + l
				continue
			}
		}
		// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of
		// one class.
		j, runCls, runLen := i, cls, n
		if r == ' ' && i+n < len(s) {
			if _, n2, c2 := decode(i + n); c2 != classSpace {
				j, runCls, runLen = i+n, c2, n2
			}
		}
		if runCls != classSpace {
			k := j + runLen
			for k < len(s) {
				_, n3, c3 := decode(k)
				if c3 != runCls {
					break
				}
				k += n3
			}
			emit(s[i:k])
			i = k
			continue
		}
		// Whitespace: the maximal run [i, k), `\s+(?!\S)` gives all of it at the end of
		// the text and all but its last character before a non-space (when that leaves
		// any), else `\s+` gives the run.
		k, last := i+n, i
		for k < len(s) {
			_, n3, c3 := decode(k)
			if c3 != classSpace {
				break
			}
			last = k
			k += n3
		}
		if k < len(s) && last > i {
			k = last
		}
		emit(s[i:k])
		i = k
	}
}

// contraction returns the length of the contraction suffix s starts with (after an
// apostrophe), or 0.
func contraction(s string) int {
	if len(s) >= 2 {
		switch s[:2] {
		case "re", "ve", "ll":
			return 2
		}
	}
	if len(s) >= 1 {
		switch s[0] {
		case 's', 't', 'm', 'd':
			return 1
		}
	}
	return 0
}

// ByteTokenizer is the plain byte-level tokenizer: ids 0…255 are the bytes, ids 256,
// 257, … the special tokens given to NewByteTokenizer. Every byte string encodes, and
// Decode(Encode(s)) == s.
type ByteTokenizer struct {
	specials []string       // id 256+i
	ids      map[string]int // special → id
	sorted   []string       // longest first
}

// NewByteTokenizer returns a byte tokenizer with the given special tokens (such as
// "<|endoftext|>"), which must be distinct and not empty.
func NewByteTokenizer(specials ...string) (*ByteTokenizer, error) {
	t := &ByteTokenizer{specials: slices.Clone(specials), ids: map[string]int{}}
	for i, s := range specials {
		if s == "" {
			return nil, errors.New("lm.NewByteTokenizer: empty special token")
		}
		if _, dup := t.ids[s]; dup {
			return nil, fmt.Errorf("lm.NewByteTokenizer: special token %q given twice", s)
		}
		t.ids[s] = 256 + i
	}
	t.sorted = sortSpecial(specials)
	return t, nil
}

// VocabSize is 256 plus the number of special tokens.
func (t *ByteTokenizer) VocabSize() int { return 256 + len(t.specials) }

// SpecialID returns the id of a special token and whether it is one.
func (t *ByteTokenizer) SpecialID(s string) (int, bool) {
	id, ok := t.ids[s]
	return id, ok
}

// Encode returns the bytes of text as ids; special-token strings are ordinary text.
func (t *ByteTokenizer) Encode(text string) []int {
	out := make([]int, len(text))
	for i := 0; i < len(text); i++ {
		out[i] = int(text[i])
	}
	return out
}

// EncodeSpecial is Encode with the special tokens recognised in text (longest first)
// and given their ids.
func (t *ByteTokenizer) EncodeSpecial(text string) []int {
	var out []int
	splitSpecial(text, t.sorted, func(seg string, special bool) {
		if special {
			out = append(out, t.ids[seg])
			return
		}
		out = append(out, t.Encode(seg)...)
	})
	return out
}

// Decode returns the bytes of the ids, special tokens written as their text.
func (t *ByteTokenizer) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		switch {
		case id >= 0 && id < 256:
			sb.WriteByte(byte(id))
		case id >= 256 && id < 256+len(t.specials):
			sb.WriteString(t.specials[id-256])
		default:
			panic(fmt.Sprintf("lm.ByteTokenizer.Decode: id %d out of range [0, %d)", id, t.VocabSize()))
		}
	}
	return sb.String()
}
