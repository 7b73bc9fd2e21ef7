package torchfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Python values the unpickler builds. Plain values are Go values: nil
// (None), bool, int64 (or *big.Int beyond 64 bits), float64, string and
// []byte (bytes).
type (
	pyTuple []any
	pyList  struct{ items []any } // a list, or a set (items in pickle order)
	pyDict  struct {
		keys, vals []any
		index      map[string]int // keyID -> position
	}
)

func newDict() *pyDict { return &pyDict{index: map[string]int{}} }

// set stores d[k] = v as Python does: a new key goes last, an existing key
// keeps its place.
// The cost of working out the key is charged to u.
func (d *pyDict) set(u *unpickler, k, v any) error {
	id, err := keyID(u, k)
	if err != nil {
		return err
	}
	if i, ok := d.index[id]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[id] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// keyID returns a string equal for keys Python considers equal (1, 1.0 and
// True are one key); unhashable keys are an error.
func keyID(u *unpickler, k any) (string, error) {
	var b strings.Builder
	if err := writeKeyID(u, &b, k, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeKeyID(u *unpickler, b *strings.Builder, k any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("dictionary key nests more than %d deep", maxDepth)
	}
	str := func(tag byte, s string) {
		u.budget -= len(s)
		b.WriteByte(tag)
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	switch k := k.(type) {
	case nil:
		b.WriteByte('N')
	case bool:
		if k {
			str('i', "1")
		} else {
			str('i', "0")
		}
	case int64:
		str('i', strconv.FormatInt(k, 10))
	case *big.Int:
		str('i', k.String())
	case float64:
		if k == math.Trunc(k) && math.Abs(k) < 1<<63 {
			str('i', strconv.FormatInt(int64(k), 10))
		} else {
			str('f', strconv.FormatUint(math.Float64bits(k), 16))
		}
	case string:
		str('s', k)
	case []byte:
		str('b', string(k))
	case *pyGlobal:
		str('g', k.module+"."+k.name)
	case pyTuple:
		b.WriteString("t" + strconv.Itoa(len(k)) + "(")
		for _, e := range k {
			if err := u.spend(1); err != nil {
				return err
			}
			if err := writeKeyID(u, b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(')')
	default:
		return fmt.Errorf("a dictionary key is %s, which is not hashable", describe(k))
	}
	return u.spend(1)
}

// maxDepth bounds the nesting of containers (in keys and in the object),
// as Python's recursion limit does.
const maxDepth = 1000

// unpickler decodes a pickle with a fixed set of opcodes and no calls except
// the allow-listed ones of globals.go.
type unpickler struct {
	data  []byte
	pos   int // next byte to read
	op    int // position of the opcode being run, for errors
	stack []any
	marks []int // stack lengths at each MARK
	memo  map[uint64]any
	// persistentLoad resolves a BINPERSID id (a torch storage).
	persistentLoad func(pid any) (any, error)
	// budget is the work left for what an opcode can do more than once on
	// shared objects (hashing keys, copying strings): a few times the
	// pickle's length, so a small pickle cannot take long to read.
	budget int
}

// newUnpickler returns an unpickler for data with a budget proportional to
// its length.
func newUnpickler(data []byte, persistentLoad func(pid any) (any, error)) *unpickler {
	return &unpickler{data: data, persistentLoad: persistentLoad, memo: map[uint64]any{}, budget: workPerByte*len(data) + workBase}
}

// The work budgets of unpickling and of naming the object: workPerByte per
// byte of pickle plus workBase.
const (
	workPerByte = 16
	workBase    = 1 << 20
)

// spend charges n units of work, failing once the budget is used up.
func (u *unpickler) spend(n int) error {
	u.budget -= n
	if u.budget < 0 {
		return fmt.Errorf("the pickle takes too long to read (it repeats shared objects too often)")
	}
	return nil
}

// Pickle opcodes (protocol 0 to 5; see Python's pickletools).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opExt1           = 0x82
	opExt2           = 0x83
	opExt4           = 0x84
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// opNames names the opcodes refused on purpose, for the error message.
var opNames = map[byte]string{
	opInst: "INST", opObj: "OBJ", opExt1: "EXT1", opExt2: "EXT2", opExt4: "EXT4",
	opNewObjEx: "NEWOBJ_EX", opByteArray8: "BYTEARRAY8", opNextBuffer: "NEXT_BUFFER",
	opReadOnlyBuffer: "READONLY_BUFFER", opPersID: "PERSID", opString: "STRING", opUnicode: "UNICODE",
}

// errorf makes an error at the current opcode.
func (u *unpickler) errorf(format string, args ...any) error {
	return &pickleError{Offset: int64(u.op), Msg: fmt.Sprintf(format, args...)}
}

// read returns the next n bytes, or an error if the pickle ends first. n is
// checked against what is left before anything is allocated.
func (u *unpickler) read(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, u.errorf("the pickle ends early: opcode %s needs %d more bytes, %d are left", opName(u.data[u.op]), n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

// readLine returns the bytes up to the next newline (not included).
func (u *unpickler) readLine() ([]byte, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return nil, u.errorf("the pickle ends early: opcode %s has no end of line", opName(u.data[u.op]))
	}
	b := u.data[u.pos : u.pos+i]
	u.pos += i + 1
	return b, nil
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	if op >= 0x20 && op < 0x7f {
		return strconv.QuoteRune(rune(op))
	}
	return fmt.Sprintf("0x%02x", op)
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// floor is the lowest stack index the current opcode may pop: the last MARK.
func (u *unpickler) floor() int {
	if len(u.marks) > 0 {
		return u.marks[len(u.marks)-1]
	}
	return 0
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popN pops the top n values, oldest first.
func (u *unpickler) popN(n int) ([]any, error) {
	if len(u.stack)-n < u.floor() {
		return nil, u.errorf("stack underflow")
	}
	items := make([]any, n)
	copy(items, u.stack[len(u.stack)-n:])
	u.stack = u.stack[:len(u.stack)-n]
	return items, nil
}

// popMark pops everything above the last MARK, and the MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("opcode %s without a MARK", opName(u.data[u.op]))
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := make([]any, len(u.stack)-m)
	copy(items, u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoGet(i uint64) error {
	v, ok := u.memo[i]
	if !ok {
		return u.errorf("memo entry %d was never stored", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) memoPut(i uint64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) text(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", u.errorf("a string is not valid UTF-8")
	}
	return string(b), nil
}

// decodeLong decodes a little-endian two's complement integer.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift // sign-extend
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

// load runs the pickle to its STOP and returns the object.
func (u *unpickler) load() (any, error) {
	le := binary.LittleEndian
	for {
		if u.pos >= len(u.data) {
			u.op = u.pos
			return nil, u.errorf("the pickle ends without a STOP opcode")
		}
		u.op = u.pos
		op := u.data[u.pos]
		u.pos++
		switch op {
		case opProto:
			b, err := u.read(1)
			if err != nil {
				return nil, err
			}
			if b[0] > 5 {
				return nil, u.errorf("pickle protocol %d is not supported (0 to 5 are)", b[0])
			}
		case opFrame:
			if _, err := u.read(8); err != nil { // frames only group bytes
				return nil, err
			}
		case opStop:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			return v, nil

		case opMark:
			u.marks = append(u.marks, len(u.stack))
		case opPop:
			if len(u.stack) > u.floor() {
				u.stack = u.stack[:len(u.stack)-1]
			} else if _, err := u.popMark(); err != nil { // POP of a bare MARK drops it
				return nil, err
			}
		case opPopMark:
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opDup:
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.push(v)

		case opNone:
			u.push(nil)
		case opNewTrue:
			u.push(true)
		case opNewFalse:
			u.push(false)
		case opBinInt:
			b, err := u.read(4)
			if err != nil {
				return nil, err
			}
			u.push(int64(int32(le.Uint32(b))))
		case opBinInt1:
			b, err := u.read(1)
			if err != nil {
				return nil, err
			}
			u.push(int64(b[0]))
		case opBinInt2:
			b, err := u.read(2)
			if err != nil {
				return nil, err
			}
			u.push(int64(le.Uint16(b)))
		case opLong1:
			n, err := u.read(1)
			if err != nil {
				return nil, err
			}
			b, err := u.read(uint64(n[0]))
			if err != nil {
				return nil, err
			}
			u.push(decodeLong(b))
		case opLong4:
			n, err := u.read(4)
			if err != nil {
				return nil, err
			}
			l := int32(le.Uint32(n))
			if l < 0 {
				return nil, u.errorf("LONG4 has a negative length %d", l)
			}
			b, err := u.read(uint64(l))
			if err != nil {
				return nil, err
			}
			u.push(decodeLong(b))
		case opInt: // protocol 0: decimal, "01"/"00" for True/False
			line, err := u.readLine()
			if err != nil {
				return nil, err
			}
			switch s := string(line); s {
			case "01":
				u.push(true)
			case "00":
				u.push(false)
			default:
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, u.errorf("INT %q is not an integer", s)
				}
				u.push(v)
			}
		case opLong: // protocol 0: decimal with an optional L
			line, err := u.readLine()
			if err != nil {
				return nil, err
			}
			s := strings.TrimSuffix(string(line), "L")
			v, ok := new(big.Int).SetString(s, 10)
			if !ok {
				return nil, u.errorf("LONG %q is not an integer", s)
			}
			if v.IsInt64() {
				u.push(v.Int64())
			} else {
				u.push(v)
			}
		case opFloat: // protocol 0: repr of a float
			line, err := u.readLine()
			if err != nil {
				return nil, err
			}
			v, err := strconv.ParseFloat(string(line), 64)
			if err != nil {
				return nil, u.errorf("FLOAT %q is not a number", line)
			}
			u.push(v)
		case opBinFloat:
			b, err := u.read(8)
			if err != nil {
				return nil, err
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))

		case opBinUnicode, opBinUnicode8, opShortBinUni, opBinString, opShortBinString:
			var n uint64
			switch op {
			case opShortBinUni, opShortBinString:
				b, err := u.read(1)
				if err != nil {
					return nil, err
				}
				n = uint64(b[0])
			case opBinUnicode8:
				b, err := u.read(8)
				if err != nil {
					return nil, err
				}
				n = le.Uint64(b)
			default:
				b, err := u.read(4)
				if err != nil {
					return nil, err
				}
				if op == opBinString && int32(le.Uint32(b)) < 0 {
					return nil, u.errorf("BINSTRING has a negative length")
				}
				n = uint64(le.Uint32(b))
			}
			b, err := u.read(n)
			if err != nil {
				return nil, err
			}
			s, err := u.text(b) // Python 2 str is decoded as UTF-8, as torch.load does
			if err != nil {
				return nil, err
			}
			u.push(s)
		case opBinBytes, opShortBinBytes, opBinBytes8:
			var n uint64
			switch op {
			case opShortBinBytes:
				b, err := u.read(1)
				if err != nil {
					return nil, err
				}
				n = uint64(b[0])
			case opBinBytes8:
				b, err := u.read(8)
				if err != nil {
					return nil, err
				}
				n = le.Uint64(b)
			default:
				b, err := u.read(4)
				if err != nil {
					return nil, err
				}
				n = uint64(le.Uint32(b))
			}
			b, err := u.read(n)
			if err != nil {
				return nil, err
			}
			u.push(bytes.Clone(b))

		case opEmptyTuple:
			u.push(pyTuple{})
		case opTuple:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(pyTuple(items))
		case opTuple1, opTuple2, opTuple3:
			items, err := u.popN(int(op-opTuple1) + 1)
			if err != nil {
				return nil, err
			}
			u.push(pyTuple(items))
		case opEmptyList:
			u.push(&pyList{})
		case opList:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pyList{items: items})
		case opAppend:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo([]any{v}, false); err != nil {
				return nil, err
			}
		case opAppends:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items, false); err != nil {
				return nil, err
			}
		case opEmptySet:
			u.push(&pyList{})
		case opAddItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items, true); err != nil {
				return nil, err
			}
		case opFrozenSet:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(pyTuple(items))
		case opEmptyDict:
			u.push(newDict())
		case opDict:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			d, err := u.setItems(newDict(), items)
			if err != nil {
				return nil, err
			}
			u.push(d)
		case opSetItem:
			kv, err := u.popN(2)
			if err != nil {
				return nil, err
			}
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			if _, err := u.setItems(t, kv); err != nil {
				return nil, err
			}
		case opSetItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			if _, err := u.setItems(t, items); err != nil {
				return nil, err
			}

		case opBinPut:
			b, err := u.read(1)
			if err != nil {
				return nil, err
			}
			if err := u.memoPut(uint64(b[0])); err != nil {
				return nil, err
			}
		case opLongBinPut:
			b, err := u.read(4)
			if err != nil {
				return nil, err
			}
			if err := u.memoPut(uint64(le.Uint32(b))); err != nil {
				return nil, err
			}
		case opMemoize:
			if err := u.memoPut(uint64(len(u.memo))); err != nil {
				return nil, err
			}
		case opPut:
			line, err := u.readLine()
			if err != nil {
				return nil, err
			}
			i, err := strconv.ParseUint(string(line), 10, 64)
			if err != nil {
				return nil, u.errorf("PUT %q is not a memo index", line)
			}
			if err := u.memoPut(i); err != nil {
				return nil, err
			}
		case opBinGet:
			b, err := u.read(1)
			if err != nil {
				return nil, err
			}
			if err := u.memoGet(uint64(b[0])); err != nil {
				return nil, err
			}
		case opLongBinGet:
			b, err := u.read(4)
			if err != nil {
				return nil, err
			}
			if err := u.memoGet(uint64(le.Uint32(b))); err != nil {
				return nil, err
			}
		case opGet:
			line, err := u.readLine()
			if err != nil {
				return nil, err
			}
			i, err := strconv.ParseUint(string(line), 10, 64)
			if err != nil {
				return nil, u.errorf("GET %q is not a memo index", line)
			}
			if err := u.memoGet(i); err != nil {
				return nil, err
			}

		case opGlobal:
			mod, err := u.readLine()
			if err != nil {
				return nil, err
			}
			name, err := u.readLine()
			if err != nil {
				return nil, err
			}
			g, err := u.findGlobal(string(mod), string(name))
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opStackGlobal:
			mn, err := u.popN(2)
			if err != nil {
				return nil, err
			}
			mod, ok1 := mn[0].(string)
			name, ok2 := mn[1].(string)
			if !ok1 || !ok2 {
				return nil, u.errorf("STACK_GLOBAL wants two strings, got %s and %s", describe(mn[0]), describe(mn[1]))
			}
			g, err := u.findGlobal(mod, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opReduce:
			fa, err := u.popN(2)
			if err != nil {
				return nil, err
			}
			v, err := u.call(fa[0], fa[1], false)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opNewObj:
			ca, err := u.popN(2)
			if err != nil {
				return nil, err
			}
			v, err := u.call(ca[0], ca[1], true)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opBuild:
			state, err := u.pop()
			if err != nil {
				return nil, err
			}
			obj, err := u.top()
			if err != nil {
				return nil, err
			}
			if err := u.build(obj, state); err != nil {
				return nil, err
			}
		case opBinPersID:
			pid, err := u.pop()
			if err != nil {
				return nil, err
			}
			if u.persistentLoad == nil {
				return nil, u.errorf("persistent id %s outside a torch archive", describe(pid))
			}
			v, err := u.persistentLoad(pid)
			if err != nil {
				return nil, u.errorf("%v", err)
			}
			u.push(v)

		default:
			if name, ok := opNames[op]; ok {
				return nil, u.errorf("pickle opcode %s is not allowed (only tensors, dicts and plain values can be read)", name)
			}
			return nil, u.errorf("unknown pickle opcode %s", opName(op))
		}
	}
}

// appendTo appends items to the list (or, for ADDITEMS, the set) on top of
// the stack.
func (u *unpickler) appendTo(items []any, set bool) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		what := "APPEND"
		if set {
			what = "ADDITEMS"
		}
		return u.errorf("%s to %s, not a list", what, describe(t))
	}
	l.items = append(l.items, items...)
	return nil
}

// setItems stores the key, value pairs kv into the dict t.
func (u *unpickler) setItems(t any, kv []any) (*pyDict, error) {
	d, ok := t.(*pyDict)
	if !ok {
		return nil, u.errorf("SETITEM on %s, not a dict", describe(t))
	}
	if len(kv)%2 != 0 {
		return nil, u.errorf("SETITEMS with an odd number (%d) of keys and values", len(kv))
	}
	for i := 0; i < len(kv); i += 2 {
		if err := d.set(u, kv[i], kv[i+1]); err != nil {
			return nil, u.errorf("%v", err)
		}
	}
	return d, nil
}

// describe names the Python type of v for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "a bool"
	case int64, *big.Int:
		return "an int"
	case float64:
		return "a float"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case pyTuple:
		return fmt.Sprintf("a tuple of %d", len(v))
	case *pyList:
		return "a list"
	case *pyDict:
		return "a dict"
	case *pyGlobal:
		return fmt.Sprintf("%q", v.module+"."+v.name)
	case *tensorVal:
		return "a tensor"
	case *storageRef:
		return "a storage"
	}
	return fmt.Sprintf("%T", v)
}
