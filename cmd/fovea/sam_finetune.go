package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/models/sam/samtrain"
)

func init() { finetuneCmd.AddCommand(newFinetuneSAMCmd()) }

func newFinetuneSAMCmd() *cobra.Command {
	cfg := samtrain.DefaultConfig()
	cfg.Out, cfg.Epochs = "runs/sam-finetune", 3
	var rf samRunFlags
	rf.targets = "qkv,proj"
	cmd := &cobra.Command{
		Use:   "sam --checkpoint CKPT --method lora|adapter|decoder|full",
		Short: "Fine-tune a Segment Anything model with LoRA, bottleneck adapters, the decoder alone or fully",
		Long: `Fine-tune a SAM model (--checkpoint: an official .pth, a safetensors file, or a fovea train
sam result) on new instance masks with SAM's training recipe (see fovea train sam):

  lora     LoRA (--r, --alpha) on the image encoder's attention projections (--targets:
           qkv and proj), prompt encoder and mask decoder trainable (SAMed's recipe)
  adapter  bottleneck adapters (--reduction, GELU) after each encoder block's attention
           projection and MLP, prompt encoder and mask decoder trainable (Medical SAM
           Adapter's recipe)
  decoder  the mask decoder alone
  full     every parameter

The data are the shapes data (--domain shifted for the shifted domain) or --coco
ANN.json --images DIR. The adapter is saved alone in PEFT's layout
(adapter_config.json + adapter_model.safetensors) in --out/adapter, the whole model in
--out/last.safetensors (SAM's names). Validation mIoU with 1 point, 3 points and the box
is reported before and after.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := samConfigFromFlags(cmd, cfg, rf)
			if err != nil {
				return err
			}
			if c.Init == "" {
				return fmt.Errorf("--checkpoint is required: the weights to fine-tune")
			}
			if cmd.Flags().Changed("targets") || rf.configFile == "" {
				c.LoRATargets = splitList(rf.targets)
			}
			if c.COCO != "" {
				c.Dataset = "coco"
			}
			return runSAMTraining(cmd, c, rf)
		},
	}
	f := cmd.Flags()
	bindRunFlags(f, &rf)
	f.StringVar(&cfg.Method, "method", cfg.Method, "lora, adapter, decoder or full")
	f.IntVar(&cfg.LoRARank, "r", cfg.LoRARank, "LoRA rank")
	f.Float64Var(&cfg.LoRAAlpha, "alpha", cfg.LoRAAlpha, "LoRA alpha (scaling alpha / r)")
	f.StringVar(&rf.targets, "targets", rf.targets, "LoRA targets: comma-separated image-encoder attention modules (qkv, proj)")
	f.IntVar(&cfg.AdapterReduction, "reduction", cfg.AdapterReduction, "adapter reduction factor (bottleneck = width / reduction)")
	bindSAMFlags(f, &cfg)
	return cmd
}
