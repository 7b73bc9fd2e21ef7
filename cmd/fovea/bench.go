package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/bench/cases"
	"github.com/fovea-ml/fovea/internal/cpu"
)

// benchLine is one line of `fovea bench --json`.
type benchLine struct {
	Case     string  `json:"case"`
	MsMedian float64 `json:"ms_median"`
	MsMin    float64 `json:"ms_min"`
	MsMax    float64 `json:"ms_max"`
	Runs     int     `json:"runs"`
	GFLOPS   float64 `json:"gflops,omitempty"`
	Threads  int     `json:"threads"`
	Kernel   string  `json:"kernel"`
	CPU      string  `json:"cpu"`
	API      string  `json:"api"`
	Size     string  `json:"size"`
}

func init() {
	var asJSON, list, tiny bool
	var threads int
	opt := cases.DefaultOptions
	cmd := &cobra.Command{
		Use:   "bench [CASE...]",
		Short: "Time fovea's kernels and layers on named cases (GEMM, convolution, upsampling)",
		Long: `Time named cases and print a table, or one JSON object per line with --json
(case, ms_median, ms_min, ms_max, runs, gflops where it applies, threads,
kernel, cpu, api, size).

Each case is set up once, run --warmup times untimed, then timed run by run
until there are at least --repeat runs adding up to at least --min-time; the
median is reported. GEMM cases call the internal SGEMM directly on
preallocated matrices; the other cases go through the tensor-level API
(tensor.Conv2d, functional.Interpolate, functional.PixelShuffle), allocation
of results included. CASE may be a glob such as 'gemm-*'; none means all.
bench/compare.py runs the same cases in PyTorch and NumPy side by side.

Cases:
` + caseList(),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if list {
				fmt.Fprint(out, caseList())
				return nil
			}
			if threads < 0 {
				return fmt.Errorf("--threads must be 0 (all cores) or more, got %d", threads)
			}
			if opt.Repeat < 1 {
				return fmt.Errorf("--repeat must be at least 1, got %d", opt.Repeat)
			}
			if opt.Warmup < 0 {
				return fmt.Errorf("--warmup must be 0 or more, got %d", opt.Warmup)
			}
			if opt.MinTime < 0 {
				return fmt.Errorf("--min-time must be 0 or more, got %v", opt.MinTime)
			}
			if tiny && !cmd.Flags().Changed("min-time") {
				opt.MinTime = 0
			}
			sel, err := cases.Select(args)
			if err != nil {
				return err
			}
			return runBench(out, sel, threads, tiny, asJSON, opt)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object per case and line instead of a table")
	f.IntVar(&threads, "threads", 0, "compute threads (0 = the default, all cores); GOMAXPROCS is raised to at least this")
	f.IntVar(&opt.Repeat, "repeat", opt.Repeat, "least number of timed runs per case")
	f.DurationVar(&opt.MinTime, "min-time", opt.MinTime, "least total time of the timed runs per case")
	f.IntVar(&opt.Warmup, "warmup", opt.Warmup, "untimed runs before timing")
	f.BoolVar(&list, "list", false, "list the cases and exit")
	f.BoolVar(&tiny, "tiny", false, "run every case at a tiny size, with --min-time 0 unless given (a smoke test: the times mean nothing)")
	rootCmd.AddCommand(cmd)
}

// caseList is one line per case: name, what is timed, and its doc.
func caseList() string {
	var b strings.Builder
	for _, c := range cases.All() {
		fmt.Fprintf(&b, "  %-31s %s: %s\n", c.Name, c.API, c.Doc)
	}
	return b.String()
}

// runBench sets the thread count, times the cases and prints each result as
// soon as it is measured. The thread settings are restored afterwards.
func runBench(out io.Writer, sel []cases.Case, threads int, tiny, asJSON bool, opt cases.Options) error {
	oldThreads, oldProcs := cpu.Threads(), runtime.GOMAXPROCS(0)
	defer func() {
		cpu.SetThreads(oldThreads)
		runtime.GOMAXPROCS(oldProcs)
	}()
	if threads > 0 {
		if threads > oldProcs {
			runtime.GOMAXPROCS(threads)
		}
		cpu.SetThreads(threads)
	}
	size, sizeName := cases.Full, "full"
	if tiny {
		size, sizeName = cases.Tiny, "tiny"
	}
	model := cpuModel()
	if !asJSON {
		fmt.Fprintf(out, "fovea bench: CPU %s, kernel %s, %d threads (GOMAXPROCS %d), %s %s/%s\n",
			model, cpu.Kernel(), cpu.Threads(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		fmt.Fprintf(out, "%d warm-up runs, then at least %d timed runs and %v per case; ms median is the reported time", opt.Warmup, opt.Repeat, opt.MinTime)
		if tiny {
			fmt.Fprint(out, "; TINY sizes (smoke test, times mean nothing)")
		}
		fmt.Fprintf(out, "\n\n%-31s %10s %10s %10s %7s %9s  %s\n", "case", "ms median", "ms min", "ms max", "runs", "GFLOP/s", "api")
	}
	enc := json.NewEncoder(out)
	for _, c := range sel {
		w := c.Setup(size)
		r := cases.Measure(w, opt)
		line := benchLine{
			Case:     c.Name,
			MsMedian: round4(cases.Ms(r.Median)),
			MsMin:    round4(cases.Ms(r.Min)),
			MsMax:    round4(cases.Ms(r.Max)),
			Runs:     len(r.Times),
			GFLOPS:   round4(w.GFLOPS(r.Median.Seconds())),
			Threads:  cpu.Threads(),
			Kernel:   cpu.Kernel(),
			CPU:      model,
			API:      c.API,
			Size:     sizeName,
		}
		if asJSON {
			if err := enc.Encode(line); err != nil {
				return err
			}
			continue
		}
		gf := "—"
		if line.GFLOPS > 0 {
			gf = fmt.Sprintf("%.1f", line.GFLOPS)
		}
		fmt.Fprintf(out, "%-31s %10.3f %10.3f %10.3f %7d %9s  %s\n", c.Name, line.MsMedian, line.MsMin, line.MsMax, line.Runs, gf, c.API)
	}
	return nil
}

// round4 rounds v to 4 decimals, so JSON carries no float noise.
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// cpuModel is the "model name" of /proc/cpuinfo with its family and model
// numbers, or GOARCH where there is no /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	info := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() && strings.TrimSpace(s.Text()) != "" { // the first processor
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok {
			info[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	name := info["model name"]
	if name == "" {
		name = runtime.GOARCH
	}
	if fam, mod := info["cpu family"], info["model"]; fam != "" && mod != "" {
		name += fmt.Sprintf(" (family %s, model %s)", fam, mod)
	}
	return name
}
