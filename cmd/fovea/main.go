// Command fovea trains, evaluates, benchmarks and serves fovea models.
//
// Each subcommand lives in its own file and registers itself on the root
// command in an init function, so subcommands can be added independently.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the `fovea` command; subcommands add themselves to it.
var rootCmd = &cobra.Command{
	Use:           "fovea",
	Short:         "fovea: deep learning for dense vision in pure Go",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fovea:", err)
		os.Exit(1)
	}
}
