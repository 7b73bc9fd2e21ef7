// Command fovea trains, evaluates, benchmarks and serves fovea models.
//
// Each subcommand lives in its own file and registers itself on the root
// command in an init function, so subcommands can be added independently.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

var cpuProfile string

// rootCmd is the `fovea` command; subcommands add themselves to it.
var rootCmd = &cobra.Command{
	Use:           "fovea",
	Short:         "fovea: deep learning for dense vision in pure Go",
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	},
	PersistentPostRun: func(cmd *cobra.Command, args []string) {
		if cpuProfile != "" {
			pprof.StopCPUProfile()
		}
	},
}

func init() {
	rootCmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (for go tool pprof) to this file")
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fovea:", err)
		os.Exit(1)
	}
}
