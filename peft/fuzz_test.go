package peft

import (
	"os"
	"testing"
)

// FuzzParseConfig: any adapter_config.json bytes give a Config or an error,
// never a panic.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../testdata/peft/peft_style/adapter_config.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"peft_type": "LORA", "r": -1, "lora_alpha": "x", "target_modules": 5}`))
	f.Add([]byte(`{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 1e30}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseConfig(b)
	})
}
