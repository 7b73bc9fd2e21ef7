//go:build linux

package torchfile

import (
	"os"
	"syscall"
)

// mmapFile maps the size bytes of f private and writable (copy-on-write):
// writes into the mapping stay in this process and never reach the file.
// ok is false if the file cannot be mapped (then the caller reads it with
// ReadAt instead).
func mmapFile(f *os.File, size int64) (data []byte, unmap func() error, ok bool) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, false
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	return data, func() error { return syscall.Munmap(data) }, true
}
