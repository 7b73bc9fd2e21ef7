package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "train",
		Short: "Train a segmentation model (the Global Convolutional Network on the built-in shapes data by default)",
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "fovea train: the training loop is not built yet (see issue 7).")
			fmt.Fprintln(cmd.OutOrStdout(), "Available commands:")
			for _, c := range rootCmd.Commands() {
				if c.IsAvailableCommand() {
					fmt.Fprintf(cmd.OutOrStdout(), "  %-10s %s\n", c.Name(), c.Short)
				}
			}
			return nil
		},
	})
}
