package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadConfig: any bytes in a config file give a Config or an error
// naming the file, never a panic.
func FuzzReadConfig(f *testing.F) {
	def, _ := json.Marshal(DefaultConfig())
	f.Add(def)
	f.Add([]byte(`{"epochs": -1, "batch_size": 1e400}`))
	f.Add([]byte(`{"model": {"k": 100000}}`))
	f.Add([]byte(`[[[[[[[[`))
	dir := f.TempDir() // one per fuzzing process
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "config.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = ReadConfig(path)
	})
}
