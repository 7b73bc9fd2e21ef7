// Package peft is parameter-efficient fine-tuning for any fovea model, after
// Hugging Face PEFT: LoRA (Hu et al. 2021) and bottleneck adapters (Houlsby
// et al. 2019, Pfeiffer et al. 2020) added to the layers selected by module
// name, merged into the weights or kept apart, prefix tuning (Li & Liang
// 2021) for models that take a per-layer past (models/lm: Past), all saved
// alone in PEFT's folder layout (adapter_config.json +
// adapter_model.safetensors).
//
// fovea models hold concrete *nn.Linear, *nn.Conv2d, *nn.Embedding and
// *nn.MultiheadAttention fields, so an adapter cannot replace a layer as
// PEFT's wrappers do. Instead each of those layers has an optional hook,
// an nn.Delta field (nn.WeightDelta for MultiheadAttention's packed
// in-projection) tagged nn:"-", that its Forward calls when set. A Model
// installs its hooks there: the model keeps its type, its Forward methods
// and its state dict, and the adapters' tensors live in the Model, under
// PEFT's names.
//
//	m, _ := sam.Load("sam_vit_b.pth", "")
//	pm, err := peft.NewModel(m, &peft.LoraConfig{R: 8, LoraAlpha: 16, TargetModules: peft.Names("qkv")}, rng)
//	fmt.Println(pm.TrainableReport()) // trainable params: … || all params: … || trainable%: …
//	opt := optim.NewAdamW(optim.Params(pm.Parameters()...), optim.AdamWOptions{LR: 1e-4})
//	… train m as usual …
//	pm.SavePretrained("out/adapter")          // adapter_config.json, adapter_model.safetensors
//	pm2, err := peft.FromPretrained(m2, "out/adapter", nil, peft.LoadOptions{})
//	plain, err := pm.MergeAndUnload(true)     // W += s·B·A, hooks removed
//
// The file layout follows PEFT's sources: config.go and lora_config.go
// (PeftConfig, LoraConfig), tuners_utils.go (target selection),
// lora_layer.go (tuners/lora/layer.py), adapter.go (bottleneck adapters),
// peft_model.go (PeftModel, LoraModel's merge/unload), save_and_load.go
// (utils/save_and_load.py), prefix.go (PrefixTuningConfig, PrefixEncoder,
// get_prompt) and svd.go (LoRA extracted from a full
// fine-tune). docs/peft.md maps every PEFT field and key and lists where
// fovea differs on purpose.
package peft
