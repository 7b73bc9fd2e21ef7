package coco

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small, fast JSON reader over a whole file in memory. COCO
// result files hold hundreds of thousands of small objects; reading them
// straight into fovea's structs, without reflection or an intermediate tree,
// is what keeps `fovea eval coco` far ahead of pycocotools end to end.
type scanner struct {
	data  []byte
	pos   int
	file  string
	depth int // objects and arrays open at pos
}

// MaxJSONDepth is how deeply objects and arrays may nest in a COCO JSON file
// (ground truth or results; COCO itself needs 4 levels). Deeper input is
// refused with a *SyntaxError instead of recursing without bound.
var MaxJSONDepth = 1000

// SyntaxError is a problem at a position of a COCO JSON file: malformed
// JSON, nesting deeper than MaxJSONDepth, or a field of the wrong kind. Line
// and Column are 1-based (the column counts bytes); Offset is the byte
// offset, as encoding/json's SyntaxError.
type SyntaxError struct {
	File         string
	Line, Column int
	Offset       int64
	Msg          string // what was wrong, with the entry and field it was in
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s: line %d column %d: %s", e.File, e.Line, e.Column, e.Msg)
}

// jsonError is a problem at a byte offset of the input; context (which
// entry, which field) is prepended as it travels up, and finish turns it into
// "file: line L column C: context: problem".
type jsonError struct {
	pos int
	msg string
}

func (e *jsonError) Error() string { return e.msg }

// errorf returns a jsonError at the current position.
func (s *scanner) errorf(format string, args ...any) error {
	return &jsonError{pos: s.pos, msg: fmt.Sprintf(format, args...)}
}

// within prefixes an error with the entry or field it happened in.
func within(err error, format string, args ...any) error {
	ctx := fmt.Sprintf(format, args...)
	if je, ok := err.(*jsonError); ok {
		return &jsonError{pos: je.pos, msg: ctx + ": " + je.msg}
	}
	return fmt.Errorf("%s: %w", ctx, err)
}

// finish names the file (and line and column for syntax-level errors).
func (s *scanner) finish(err error) error {
	if err == nil {
		return nil
	}
	if je, ok := err.(*jsonError); ok {
		pos := min(je.pos, len(s.data))
		line := 1 + bytes.Count(s.data[:pos], []byte{'\n'})
		col := pos - bytes.LastIndexByte(s.data[:pos], '\n')
		return &SyntaxError{File: s.file, Line: line, Column: col, Offset: int64(pos), Msg: je.msg}
	}
	return fmt.Errorf("%s: %w", s.file, err)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-blank byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("expected %q, found %s", c, s.found())
	}
	s.pos++
	return nil
}

func (s *scanner) found() string {
	if s.pos >= len(s.data) {
		return "end of file"
	}
	return strconv.QuoteRune(rune(s.data[s.pos]))
}

// object calls fn for each key of an object; fn must consume the value.
func (s *scanner) object(fn func(key []byte) error) error {
	if s.depth >= MaxJSONDepth {
		return s.errorf("objects and arrays nested more than %d deep (coco.MaxJSONDepth)", MaxJSONDepth)
	}
	s.depth++
	err := s.objectBody(fn)
	s.depth--
	return err
}

func (s *scanner) objectBody(fn func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errorf("expected an object key, found %s", s.found())
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}' in object, found %s", s.found())
		}
	}
}

// array calls fn for each element of an array; fn must consume it.
func (s *scanner) array(fn func(i int) error) error {
	if s.depth >= MaxJSONDepth {
		return s.errorf("objects and arrays nested more than %d deep (coco.MaxJSONDepth)", MaxJSONDepth)
	}
	s.depth++
	err := s.arrayBody(fn)
	s.depth--
	return err
}

func (s *scanner) arrayBody(fn func(i int) error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := fn(i); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']' in array, found %s", s.found())
		}
	}
}

// str reads a string. The result aliases the input when it has no escapes.
func (s *scanner) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if c == '"' {
			s.pos++
			return s.data[start : s.pos-1], nil
		}
		if c == '\\' {
			return s.strEscaped(start)
		}
		if c < 0x20 {
			return nil, s.errorf("control character in string")
		}
		s.pos++
	}
	return nil, s.errorf("unterminated string")
}

func (s *scanner) strEscaped(start int) ([]byte, error) {
	out := append([]byte(nil), s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return out, nil
		case c < 0x20:
			return nil, s.errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			break
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.errorf("bad \\u escape in string")
			}
			if utf16.IsSurrogate(r) {
				if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					s.pos += 2
					r2, ok := s.hex4()
					if !ok {
						return nil, s.errorf("bad \\u escape in string")
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.errorf("bad escape \\%c in string", e)
		}
	}
	return nil, s.errorf("unterminated string")
}

func (s *scanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.pos += 4
	return rune(v), true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// num reads a number, correctly rounded as Python's json module reads it.
// Plain decimals with at most 15 significant digits take the exact fast
// path (an integer times or over an exact power of ten); everything else
// goes through strconv.ParseFloat. Python's NaN and Infinity literals are
// refused.
func (s *scanner) num() (float64, error) {
	s.ws()
	start := s.pos
	d := s.data
	i := s.pos
	neg := false
	if i < len(d) && d[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	intStart := i
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		if digits > 0 || d[i] != '0' {
			digits++
		}
		mant = mant*10 + uint64(d[i]-'0')
		i++
	}
	if i == intStart {
		return 0, s.errorf("expected a number, found %s", s.found())
	}
	if i < len(d) && d[i] == '.' {
		i++
		fs := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			if digits > 0 || d[i] != '0' {
				digits++
			}
			mant = mant*10 + uint64(d[i]-'0')
			i++
		}
		frac = i - fs
		if frac == 0 {
			return 0, s.errorf("malformed number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') || digits > 15 || frac > 22 {
		// slow path: exponent, or too many digits for the exact fast path
		for i < len(d) && (d[i] == 'e' || d[i] == 'E' || d[i] == '+' || d[i] == '-' || d[i] >= '0' && d[i] <= '9' || d[i] == '.') {
			i++
		}
		v, err := strconv.ParseFloat(string(d[start:i]), 64)
		if err != nil && !isRangeErr(err) {
			s.pos = start
			return 0, s.errorf("malformed number %q", d[start:i])
		}
		s.pos = i
		return v, nil
	}
	s.pos = i
	v := float64(mant) / pow10[frac]
	if neg {
		v = -v
	}
	return v, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// int64Val reads a number that must be an integer (COCO ids).
func (s *scanner) intVal() (int64, error) {
	start := s.pos
	v, err := s.num()
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		s.pos = start
		return 0, s.errorf("expected an integer id, found %v", v)
	}
	return int64(v), nil
}

// skip consumes one value of any kind.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(func(int) error { return s.skip() })
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, err := s.num()
		return err
	}
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.errorf("expected a value, found %s", s.found())
	}
	s.pos += len(lit)
	return nil
}

// raw consumes one value and returns its bytes.
func (s *scanner) raw() ([]byte, error) {
	s.ws()
	start := s.pos
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// boolish reads true/false/null or a number (COCO's iscrowd is 0/1) and
// reports whether it is truthy, as Python would.
func (s *scanner) boolish() (bool, error) {
	switch s.peek() {
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return false, s.literal("null")
	}
	v, err := s.num()
	return v != 0, err
}

// end checks that only blanks follow the top-level value.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errorf("unexpected %s after the top-level value", s.found())
	}
	return nil
}
