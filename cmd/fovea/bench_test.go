package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/bench/cases"
	"github.com/fovea-ml/fovea/internal/cpu"
)

// runBenchCmd runs `fovea bench args...` with every bench flag back at its
// default first (cobra keeps flag values between Execute calls).
func runBenchCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd, _, err := rootCmd.Find([]string{"bench"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"json", "threads", "repeat", "min-time", "warmup", "list", "tiny"} {
		f := cmd.Flags().Lookup(name)
		if err := f.Value.Set(f.DefValue); err != nil {
			t.Fatal(err)
		}
		f.Changed = false
	}
	return runFovea(t, append([]string{"bench"}, args...)...)
}

func TestBenchJSONShape(t *testing.T) {
	out, err := runBenchCmd(t, "--json", "--tiny", "--repeat", "1", "--warmup", "0")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	names := cases.Names()
	if len(lines) != len(names) {
		t.Fatalf("%d lines, want one per case (%d):\n%s", len(lines), len(names), out)
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		if m["case"] != names[i] {
			t.Errorf("line %d: case %v, want %s", i+1, m["case"], names[i])
		}
		for _, k := range []string{"ms_median", "ms_min", "ms_max", "runs", "threads"} {
			if v, ok := m[k].(float64); !ok || v < 0 {
				t.Errorf("%s: %s = %v, want a number ≥ 0", names[i], k, m[k])
			}
		}
		if m["runs"] != 1.0 || m["size"] != "tiny" || m["kernel"] != cpu.Kernel() || m["cpu"] == "" || m["api"] == "" {
			t.Errorf("%s: runs %v size %v kernel %v cpu %v api %v", names[i], m["runs"], m["size"], m["kernel"], m["cpu"], m["api"])
		}
		c, _ := cases.Lookup(names[i])
		_, hasGflops := m["gflops"]
		if want := c.Flops > 0; hasGflops != want {
			t.Errorf("%s: gflops present %v, want %v", names[i], hasGflops, want)
		}
	}
}

func TestBenchTableAndThreads(t *testing.T) {
	before := cpu.Threads()
	out, err := runBenchCmd(t, "--tiny", "--repeat", "2", "--threads", "1", "gemm-*", "pixelshuffle2-n8-c64-64-fwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kernel " + cpu.Kernel(), "1 threads", "ms median", "GFLOP/s", "gemm-1024", "gemm-4096x576x64", "pixelshuffle2-n8-c64-64-fwd", "TINY"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "conv3x3") {
		t.Errorf("unselected case ran:\n%s", out)
	}
	if cpu.Threads() != before {
		t.Errorf("threads %d after bench, want %d restored", cpu.Threads(), before)
	}
	out, err = runBenchCmd(t, "--json", "--tiny", "--repeat", "1", "--threads", "1", "gemm-1024")
	if err != nil || !strings.Contains(out, `"threads":1,`) {
		t.Errorf("--threads 1 --json: %v\n%s", err, out)
	}
}

func TestBenchList(t *testing.T) {
	out, err := runBenchCmd(t, "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cases.Names() {
		if !strings.Contains(out, n) {
			t.Errorf("--list lacks %s", n)
		}
	}
}

func TestBenchBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown case "nope"; known cases: gemm-1024`},
		{[]string{"--repeat", "0"}, "--repeat must be at least 1, got 0"},
		{[]string{"--threads", "-2"}, "--threads must be 0 (all cores) or more, got -2"},
		{[]string{"--warmup", "-1"}, "--warmup must be 0 or more, got -1"},
		{[]string{"--min-time", "-1s"}, "--min-time must be 0 or more, got -1s"},
		{[]string{"--min-time", "soon"}, `invalid argument "soon" for "--min-time"`},
	}
	for _, tt := range tests {
		_, err := runBenchCmd(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("bench %q: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}
