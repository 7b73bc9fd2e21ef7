package sam

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadConfig: any config JSON gives a validated Config or an error naming
// the file, never a panic.
func FuzzReadConfig(f *testing.F) {
	for _, c := range []Config{VitB(), VitT()} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"encoder": "tiny_vit", "tiny_vit_depths": [2, -1]}`))
	f.Add([]byte(`{"image_size": 0, "patch_size": 0}`))
	dir := f.TempDir() // one per fuzzing process
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "sam.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := ReadConfig(path); err == nil {
			_ = c.Describe()
		}
	})
}
