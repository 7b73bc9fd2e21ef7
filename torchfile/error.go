package torchfile

import (
	"fmt"
	"strings"
)

// Error is the error returned for a file torchfile cannot read: not a
// checkpoint, a refused format (legacy, TorchScript), a pickle that calls
// something outside the allow-list, or data that does not add up. File is
// the path (or the name given to OpenReader); Entry the zip entry at fault,
// such as "archive/data.pkl" or "archive/data/3", or ""; Offset the byte
// position of the pickle opcode at fault within Entry, or -1; Msg what is
// wrong.
type Error struct {
	File   string
	Entry  string
	Offset int64
	Msg    string
}

// Error formats e as
// `torchfile: model.pth: archive/data.pkl at byte 2: global "os.system" is not allowed (...)`,
// leaving out the parts that are empty (or an Offset below zero).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("torchfile: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Entry != "" {
		b.WriteString(e.Entry)
		if e.Offset >= 0 {
			fmt.Fprintf(&b, " at byte %d", e.Offset)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// pickleError is an error of the unpickler at byte Offset of the pickle; the
// caller wraps it in an Error naming the file and entry.
type pickleError struct {
	Offset int64
	Msg    string
}

func (e *pickleError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg) }
