package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics/seg"
)

// The limits against hostile or mistaken input that every command shares
// (docs/reliability.md): --max-pixels, and no NaN or infinite number in any
// floating-point flag.

func init() {
	rootCmd.PersistentFlags().Var(maxPixelsValue{}, "max-pixels",
		"largest image or label map read, in pixels (width × height): bigger files are refused from their header")
	// Wrap the root's hook, so the check runs before every subcommand.
	prev := rootCmd.PersistentPreRunE
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFiniteFlags(cmd); err != nil {
			return err
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// maxPixelsValue is the --max-pixels flag: it sets data.MaxPixels (images,
// label maps read by data) and seg.MaxPixels (label maps of eval seg).
type maxPixelsValue struct{}

func (maxPixelsValue) String() string { return strconv.FormatInt(data.MaxPixels, 10) }
func (maxPixelsValue) Type() string   { return "int" }
func (maxPixelsValue) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64) // 1e9 and 100000000 both work
	if err != nil || v != math.Trunc(v) || v < 1 || v > math.MaxInt64/4 {
		return fmt.Errorf("want a positive whole number of pixels")
	}
	data.MaxPixels, seg.MaxPixels = int64(v), int64(v)
	return nil
}

// checkFiniteFlags refuses a NaN or infinite value in any floating-point flag
// the user set on cmd (its own and inherited flags), naming the flag.
func checkFiniteFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || !f.Changed || !strings.HasPrefix(f.Value.Type(), "float") {
			return
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, s := range vals {
			v, perr := strconv.ParseFloat(s, 64)
			if perr == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = fmt.Errorf("--%s %s: want a finite number", f.Name, s)
				return
			}
		}
	})
	return err
}
