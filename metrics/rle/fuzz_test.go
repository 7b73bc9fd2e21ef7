package rle

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzFromString decodes arbitrary compressed strings for small masks: no
// panic, and every string that decodes re-encodes to one that decodes to the
// same counts.
func FuzzFromString(f *testing.F) {
	f.Add("", uint8(0), uint8(0))
	f.Add("52203", uint8(5), uint8(5))
	f.Add("0", uint8(1), uint8(1))
	f.Add("o", uint8(3), uint8(7))
	f.Add("\x7f", uint8(2), uint8(2))
	if data, err := os.ReadFile("../../testdata/metrics/rle/golden.json"); err == nil {
		// Seed with every "counts" string of the golden file.
		var anyJSON any
		if json.Unmarshal(data, &anyJSON) == nil {
			var walk func(v any)
			walk = func(v any) {
				switch v := v.(type) {
				case map[string]any:
					if s, ok := v["counts"].(string); ok {
						f.Add(s, uint8(20), uint8(30))
					}
					for _, c := range v {
						walk(c)
					}
				case []any:
					for _, c := range v {
						walk(c)
					}
				}
			}
			walk(anyJSON)
		}
	}
	f.Fuzz(func(t *testing.T, s string, h, w uint8) {
		r, err := FromString(s, int(h), int(w))
		if err != nil {
			return
		}
		var total uint64
		for _, c := range r.Counts {
			total += uint64(c)
		}
		if total != uint64(h)*uint64(w) {
			t.Fatalf("FromString(%q, %d, %d): counts cover %d pixels", s, h, w, total)
		}
		back, err := FromString(r.String(), int(h), int(w))
		if err != nil {
			t.Fatalf("re-encoded %q of %q does not decode: %v", r.String(), s, err)
		}
		if len(back.Counts) != len(r.Counts) {
			t.Fatalf("round trip of %q: %v, want %v", s, back.Counts, r.Counts)
		}
		for i := range back.Counts {
			if back.Counts[i] != r.Counts[i] {
				t.Fatalf("round trip of %q: %v, want %v", s, back.Counts, r.Counts)
			}
		}
	})
}
