package data_test

import "os"

// tempDir returns a fresh folder and a function that removes it.
func tempDir() (string, func()) {
	dir, err := os.MkdirTemp("", "fovea-data-example")
	if err != nil {
		panic(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}
