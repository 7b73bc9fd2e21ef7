package main

import "github.com/spf13/cobra"

// finetuneCmd is the parent of the fine-tuning commands (finetune lm, finetune sam);
// each attaches itself from its own file's init.
var finetuneCmd = &cobra.Command{
	Use:   "finetune",
	Short: "Fine-tune a trained model fully or with a parameter-efficient method (LoRA, adapters, prefix tuning)",
}

func init() { rootCmd.AddCommand(finetuneCmd) }
