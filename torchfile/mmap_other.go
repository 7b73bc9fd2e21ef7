//go:build !linux

package torchfile

import "os"

// mmapFile never maps on this system: the caller reads the file with ReadAt.
func mmapFile(f *os.File, size int64) (data []byte, unmap func() error, ok bool) {
	return nil, nil, false
}
