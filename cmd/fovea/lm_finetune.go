package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea/data/tabletext"
	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/metrics/bleu"
	"github.com/fovea-ml/fovea/models/lm"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/peft"
	"github.com/fovea-ml/fovea/tensor"
)

// lmFinetuneOptions are the settings of fovea finetune lm.
type lmFinetuneOptions struct {
	Base   string `json:"base"`
	Out    string `json:"-"`
	Method string `json:"method"` // full, lora, adapter, prefix
	// LoRA
	R       int      `json:"r,omitempty"`
	Alpha   float64  `json:"alpha,omitempty"`
	Dropout float64  `json:"dropout,omitempty"`
	Targets []string `json:"targets,omitempty"`
	// Bottleneck adapters
	Reduction int    `json:"reduction,omitempty"`
	Placement string `json:"placement,omitempty"` // houlsby, pfeiffer
	// Prefix tuning
	PrefixLen        int  `json:"prefix_len,omitempty"`
	PrefixProjection bool `json:"prefix_projection,omitempty"`
	PrefixHidden     int  `json:"prefix_hidden,omitempty"`
	// Training
	Epochs      int     `json:"epochs"`
	Batch       int     `json:"batch"`
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	WarmupFrac  float64 `json:"warmup_frac"`
	Seed        uint64  `json:"seed"`
	// Data (data/tabletext)
	DataSeed  uint64 `json:"data_seed"`
	TrainMRs  int    `json:"train_mrs"`
	TrainRefs int    `json:"train_refs"`
	TestMRs   int    `json:"test_mrs"`
	MaxNew    int    `json:"max_new_tokens"`
	Threads   int    `json:"-"`
	Progress  bool   `json:"-"`
	Overwrite bool   `json:"-"`
}

func defaultLMFinetuneOptions() lmFinetuneOptions {
	return lmFinetuneOptions{
		Base: "runs/lm-base", Out: "runs/lm-finetune", Method: "lora",
		R: 4, Alpha: 8, Targets: []string{"c_attn"}, Reduction: 16, Placement: "houlsby",
		PrefixLen: 8, PrefixProjection: false, PrefixHidden: 128,
		Epochs: 2, Batch: 16, WeightDecay: 0.01, WarmupFrac: 0.06, Seed: 1,
		DataSeed: 1, TrainMRs: 1000, TrainRefs: 2, TestMRs: 120, MaxNew: 320,
	}
}

// lmDefaultLR is each method's default learning rate: parameter-efficient methods train
// few parameters from zero (LoRA's B, the adapters' up-projection) and take a larger
// one, as the LoRA and prefix-tuning papers do.
func lmDefaultLR(method string) float64 {
	switch method {
	case "full":
		return 1e-3
	case "lora":
		return 4e-3
	case "adapter":
		return 4e-3
	case "prefix":
		return 1e-2
	}
	return 1e-3
}

func (o lmFinetuneOptions) validate() error {
	switch o.Method {
	case "full", "lora", "adapter", "prefix":
	default:
		return fmt.Errorf("flag --method %q: want full, lora, adapter or prefix", o.Method)
	}
	switch {
	case o.Epochs < 1:
		return fmt.Errorf("flag --epochs %d: want at least 1", o.Epochs)
	case o.Batch < 1:
		return fmt.Errorf("flag --batch %d: want at least 1", o.Batch)
	case !(o.LR > 0):
		return fmt.Errorf("flag --lr %v: want > 0", o.LR)
	case o.WarmupFrac < 0 || o.WarmupFrac >= 1:
		return fmt.Errorf("flag --warmup-frac %v: want within [0, 1)", o.WarmupFrac)
	case o.TrainMRs < 1 || o.TrainRefs < 1 || o.TestMRs < 1:
		return fmt.Errorf("flags --train-mrs %d, --train-refs %d, --test-mrs %d: want at least 1", o.TrainMRs, o.TrainRefs, o.TestMRs)
	case o.MaxNew < 1:
		return fmt.Errorf("flag --max-new-tokens %d: want at least 1", o.MaxNew)
	case o.Method == "lora" && (o.R < 1 || !(o.Alpha > 0) || o.Dropout < 0 || o.Dropout >= 1 || len(o.Targets) == 0):
		return fmt.Errorf("flags --r %d, --alpha %v, --dropout %v, --targets %q: want r ≥ 1, alpha > 0, dropout in [0, 1), some targets", o.R, o.Alpha, o.Dropout, o.Targets)
	case o.Method == "adapter" && o.Reduction < 1:
		return fmt.Errorf("flag --reduction %d: want at least 1", o.Reduction)
	case o.Method == "adapter" && o.Placement != "houlsby" && o.Placement != "pfeiffer":
		return fmt.Errorf("flag --placement %q: want houlsby or pfeiffer", o.Placement)
	case o.Method == "prefix" && (o.PrefixLen < 1 || o.PrefixHidden < 1):
		return fmt.Errorf("flags --prefix-len %d, --prefix-hidden %d: want at least 1", o.PrefixLen, o.PrefixHidden)
	}
	return nil
}

// lmEval is eval.json.
type lmEval struct {
	Method          string            `json:"method"`
	BLEU            float64           `json:"bleu"`
	BLEUSignature   string            `json:"bleu_detail"`
	SlotCoverage    float64           `json:"slot_coverage"`        // fraction of outputs mentioning every slot
	SlotsRealised   float64           `json:"slots_realised"`       // fraction of all slots mentioned
	Trainable       int               `json:"trainable_params"`     // elements trained
	Total           int               `json:"total_params"`         // base model + adapter
	TrainablePct    float64           `json:"trainable_percent"`    // 100·Trainable/Total
	Stored          int               `json:"stored_params"`        // elements saved (the adapter file, or the whole model)
	StoredPct       float64           `json:"stored_percent"`       // 100·Stored / base parameters
	TrainSeconds    float64           `json:"train_seconds"`        // training loop, evaluation excluded
	EvalSeconds     float64           `json:"eval_seconds"`         // greedy decoding of the test split
	PeakHeap        uint64            `json:"peak_heap_bytes"`      // Go heap objects, maximum over training
	VmHWM           uint64            `json:"peak_rss_bytes"`       // process peak resident set (whole process)
	Steps           int               `json:"steps"`                //
	TrainLoss       float64           `json:"train_loss"`           // running loss at the end
	ValLoss         float64           `json:"val_loss"`             // teacher-forced loss on validation pairs
	TestMRs         int               `json:"test_mrs"`             //
	RefsPerMR       int               `json:"refs_per_mr"`          //
	TokensPerSecond float64           `json:"train_tokens_per_sec"` //
	Options         lmFinetuneOptions `json:"options"`
	History         []lmLossPoint     `json:"history"`
	Samples         []lmSample        `json:"samples"`
}

// lmSample is one test MR with the generated sentence.
type lmSample struct {
	MR      string `json:"mr"`
	Output  string `json:"output"`
	Covered bool   `json:"covered"`
}

func init() {
	o := defaultLMFinetuneOptions()
	var quiet bool
	cmd := &cobra.Command{
		Use:   "lm",
		Short: "Fine-tune a pre-trained language model on the table-to-text task: full, LoRA, bottleneck adapters or prefix tuning",
		Long: `Fine-tune a model from fovea train lm (--base: config.json + model.safetensors) on
data/tabletext's E2E-style task: the input is the MR followed by <sep>, the target the
sentence followed by <|endoftext|>; the loss is on the sentence's tokens only. Methods:

  full     every parameter trains; saves the whole model (GPT-2 folder) in --out/model
  lora     LoRA (--r, --alpha, --dropout) on --targets (Conv1D names: c_attn, c_proj, c_fc, attn.c_proj, mlp.c_proj)
  adapter  bottleneck adapters (--reduction) after attn.c_proj and mlp.c_proj (houlsby) or mlp.c_proj only (pfeiffer)
  prefix   prefix tuning with --prefix-len virtual tokens per layer (--prefix-projection: the MLP reparameterisation)

Adapters are saved alone in PEFT's layout (adapter_config.json + adapter_model.safetensors)
in --out/adapter. Then every test MR is decoded greedily and scored: corpus BLEU-4
(sacreBLEU's, all references of the MR) and slot coverage (the fraction of outputs that
mention every slot value). Writes eval.json, predictions.txt and loss.png into --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opt := o
			if !cmd.Flags().Changed("lr") {
				opt.LR = lmDefaultLR(opt.Method)
			}
			opt.Progress = !quiet && term.IsTerminal(int(os.Stderr.Fd()))
			ev, err := runLMFinetune(ctx, opt, cmd.ErrOrStderr())
			if errors.Is(err, errLMInterrupted) {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				os.Exit(130)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: BLEU %.2f, slot coverage %.1f%%; %s; training %.0f s, peak heap %s; results in %s\n",
				ev.Method, ev.BLEU, 100*ev.SlotCoverage, lmTrainableLine(ev.Trainable, ev.Total), ev.TrainSeconds, lmMiB(ev.PeakHeap), opt.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Base, "base", o.Base, "pre-trained model folder (fovea train lm's --out)")
	f.StringVar(&o.Out, "out", o.Out, "output folder")
	f.StringVar(&o.Method, "method", o.Method, "full, lora, adapter or prefix")
	f.IntVar(&o.R, "r", o.R, "LoRA rank")
	f.Float64Var(&o.Alpha, "alpha", o.Alpha, "LoRA alpha (scaling alpha/r)")
	f.Float64Var(&o.Dropout, "dropout", o.Dropout, "LoRA dropout")
	f.StringSliceVar(&o.Targets, "targets", o.Targets, "LoRA target modules (names or suffixes of Conv1D layers)")
	f.IntVar(&o.Reduction, "reduction", o.Reduction, "adapter reduction factor (bottleneck = width / reduction)")
	f.StringVar(&o.Placement, "placement", o.Placement, "adapter placement: houlsby (after attention and feed-forward) or pfeiffer (feed-forward only)")
	f.IntVar(&o.PrefixLen, "prefix-len", o.PrefixLen, "prefix tuning: virtual tokens per layer")
	f.BoolVar(&o.PrefixProjection, "prefix-projection", o.PrefixProjection, "prefix tuning: train through the Embedding → Linear → Tanh → Linear reparameterisation")
	f.IntVar(&o.PrefixHidden, "prefix-hidden", o.PrefixHidden, "prefix tuning: hidden width of the reparameterisation MLP")
	f.IntVar(&o.Epochs, "epochs", o.Epochs, "passes over the training pairs")
	f.IntVar(&o.Batch, "batch", o.Batch, "pairs per step")
	f.Float64Var(&o.LR, "lr", 0, "peak learning rate (default: full 1e-3, lora 4e-3, adapter 4e-3, prefix 1e-2)")
	f.Float64Var(&o.WeightDecay, "weight-decay", o.WeightDecay, "AdamW decoupled weight decay (not on biases and norms)")
	f.Float64Var(&o.WarmupFrac, "warmup-frac", o.WarmupFrac, "linear warm-up as a fraction of the steps (then cosine to 0)")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the adapter initialisation, shuffling and dropout")
	f.Uint64Var(&o.DataSeed, "data-seed", o.DataSeed, "seed of the table-to-text data")
	f.IntVar(&o.TrainMRs, "train-mrs", o.TrainMRs, "training MRs")
	f.IntVar(&o.TrainRefs, "train-refs", o.TrainRefs, "references per training MR (each a training pair)")
	f.IntVar(&o.TestMRs, "test-mrs", o.TestMRs, "test MRs (8 references each, held-out attribute combinations)")
	f.IntVar(&o.MaxNew, "max-new-tokens", o.MaxNew, "longest generated sentence in bytes")
	f.IntVar(&o.Threads, "threads", o.Threads, "compute threads (0 = all cores)")
	f.BoolVar(&o.Overwrite, "overwrite", false, "replace results already in --out")
	f.BoolVar(&quiet, "quiet", false, "no progress bar (it is also off when standard error is not a terminal)")
	finetuneCmd.AddCommand(cmd)
}

// lmPair is one tokenised training pair: ids = MR <sep> sentence <|endoftext|>, and
// the number of prompt tokens (MR and <sep>), which the loss skips.
type lmPair struct {
	ids    []int
	prompt int
}

func lmEncodePairs(tok *lmTokenizer, mrs []tabletext.MR, refs []string) []lmPair {
	out := make([]lmPair, len(mrs))
	for i, mr := range mrs {
		p := append(tok.Encode(mr.String()), tok.sep)
		ids := append(slices.Clone(p), tok.Encode(refs[i])...)
		out[i] = lmPair{ids: append(ids, tok.eos), prompt: len(p)}
	}
	return out
}

// lmBatches orders pairs for one epoch: shuffled, then sorted by length within chunks
// of 32 batches (so a batch pads little), cut into batches, and the batches shuffled.
func lmBatches(n int, lengths func(int) int, batch int, rng *rand.Rand) [][]int {
	idx := rng.Perm(n)
	chunk := batch * 32
	var out [][]int
	for lo := 0; lo < n; lo += chunk {
		c := idx[lo:min(lo+chunk, n)]
		slices.SortStableFunc(c, func(a, b int) int { return cmp.Compare(lengths(a), lengths(b)) })
		for b := 0; b < len(c); b += batch {
			out = append(out, c[b:min(b+batch, len(c))])
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// lmPad builds ids (B, T) right-padded with <|endoftext|> and labels with IgnoreIndex
// on the prompt and the padding.
func lmPad(pairs []lmPair, sel []int, pad int) (ids, labels *tensor.Tensor, tokens int) {
	t := 0
	for _, i := range sel {
		t = max(t, len(pairs[i].ids))
	}
	rows := make([][]int, len(sel))
	mask := tensor.Zeros(len(sel), t)
	md := mask.Data()
	for r, i := range sel {
		p := pairs[i]
		row := make([]int, t)
		copy(row, p.ids)
		for j := len(p.ids); j < t; j++ {
			row[j] = pad
		}
		rows[r] = row
		for j := p.prompt; j < len(p.ids); j++ {
			md[r*t+j] = 1
		}
		tokens += len(p.ids)
	}
	ids = lm.IDs(rows...)
	return ids, lm.MaskLabels(ids, mask), tokens
}

func runLMFinetune(ctx context.Context, o lmFinetuneOptions, log io.Writer) (*lmEval, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Threads > 0 {
		cpu.SetThreads(o.Threads)
	}
	if !o.Overwrite {
		if _, err := os.Stat(filepath.Join(o.Out, "eval.json")); err == nil {
			return nil, fmt.Errorf("%s already holds results (eval.json): pass --overwrite to replace them", o.Out)
		}
	}
	m, err := lm.Load(o.Base)
	if err != nil {
		return nil, fmt.Errorf("--base: %w", err)
	}
	cfg := m.Config
	tok, err := readLMTokenizer(o.Base, cfg)
	if err != nil {
		return nil, err
	}
	ds, err := tabletext.Generate(tabletext.Config{Seed: o.DataSeed, Train: o.TrainMRs, TrainRefs: o.TrainRefs, Test: o.TestMRs})
	if err != nil {
		return nil, err
	}
	trMRs, trRefs := tabletext.Pairs(ds.Train)
	train := lmEncodePairs(tok, trMRs, trRefs)
	var vaMRs []tabletext.MR
	var vaRefs []string
	for _, ex := range ds.Validation {
		vaMRs, vaRefs = append(vaMRs, ex.MR), append(vaRefs, ex.Refs[0])
	}
	val := lmEncodePairs(tok, vaMRs, vaRefs)
	longest := 0
	for _, p := range append(slices.Clone(train), val...) {
		longest = max(longest, len(p.ids))
	}
	if longest > cfg.NPositions {
		return nil, fmt.Errorf("--base %s: n_positions %d is shorter than the longest pair (%d tokens): pre-train with a larger --positions", o.Base, cfg.NPositions, longest)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	atomicfile.RemoveStale(o.Out)

	// The model to train.
	baseTotal, _ := nn.CountParameters(m)
	rng := rand.New(rand.NewPCG(o.Seed, 21))
	var pm *peft.Model
	switch o.Method {
	case "full":
		nn.Unfreeze(m)
	case "lora":
		pm, err = peft.NewModel(m, &peft.LoraConfig{TaskType: "CAUSAL_LM", BaseModelNameOrPath: o.Base, R: o.R, LoraAlpha: o.Alpha,
			LoraDropout: o.Dropout, TargetModules: peft.Names(o.Targets...)}, rng)
	case "adapter":
		bc := peft.Houlsby("attn.c_proj", "mlp.c_proj", o.Reduction)
		if o.Placement == "pfeiffer" {
			bc = peft.Pfeiffer("mlp.c_proj", o.Reduction)
		}
		bc.TaskType, bc.BaseModelNameOrPath = "CAUSAL_LM", o.Base
		pm, err = peft.NewModel(m, bc, rng)
	case "prefix":
		pm, err = peft.NewModel(m, &peft.PrefixTuningConfig{TaskType: "CAUSAL_LM", BaseModelNameOrPath: o.Base,
			NumVirtualTokens: o.PrefixLen, TokenDim: cfg.NEmbd, NumLayers: cfg.NLayer, NumAttentionHeads: cfg.NHead,
			PrefixProjection: o.PrefixProjection, EncoderHiddenSize: o.PrefixHidden}, rng)
	}
	if err != nil {
		return nil, err
	}
	var params []*tensor.Tensor
	total, trainable := baseTotal, baseTotal
	if pm != nil {
		params = pm.Parameters()
		total, trainable = pm.CountParameters()
	} else {
		params = nn.Parameters(m)
	}
	fmt.Fprintf(log, "finetune lm --method %s: %s; %d training pairs (%d MRs), %d test MRs of held-out attribute combinations\n",
		o.Method, lmTrainableLine(trainable, total), len(train), len(ds.Train), len(ds.Test))
	opt := optim.NewAdamW(lmDecayGroups(params, o.WeightDecay), optim.AdamWOptions{LR: o.LR})
	setTraining := func(on bool) {
		if pm != nil {
			pm.SetTraining(on)
		} else {
			nn.SetTraining(m, on)
		}
	}
	forward := func(ids *tensor.Tensor) *tensor.Tensor {
		if o.Method != "prefix" {
			return m.Forward(ids)
		}
		past, err := peft.Past[lm.KV](pm)
		if err != nil {
			panic(err) // one prefix adapter: cannot fail
		}
		return m.ForwardWith(ids, lm.ForwardOptions{Past: past}).Logits
	}
	valLoss := func() float64 {
		setTraining(false)
		defer setTraining(true)
		var sum float64
		var n int
		for lo := 0; lo < len(val); lo += o.Batch {
			sel := make([]int, 0, o.Batch)
			for i := lo; i < min(lo+o.Batch, len(val)); i++ {
				sel = append(sel, i)
			}
			ids, labels, _ := lmPad(val, sel, tok.eos)
			sum += float64(lm.NextTokenLoss(forward(ids), labels).Item()) * float64(len(sel))
			n += len(sel)
		}
		return sum / float64(max(n, 1))
	}

	stepsPerEpoch := (len(train) + o.Batch - 1) / o.Batch
	steps := o.Epochs * stepsPerEpoch
	warmup := int(o.WarmupFrac * float64(steps))
	lmReleaseMemory()
	mem := newLMPeakMemory()
	mem.observe()
	setTraining(true)
	m.Rng = rand.New(rand.NewPCG(o.Seed, 22))
	prog := newLMProgress(o.Progress, os.Stderr, steps, 0, o.Method)
	var hist []lmLossPoint
	var running float64
	var tokens int
	step := 0
	start := time.Now()
	interrupted := false
train:
	for epoch := 0; epoch < o.Epochs; epoch++ {
		batches := lmBatches(len(train), func(i int) int { return len(train[i].ids) }, o.Batch, rand.New(rand.NewPCG(o.Seed, uint64(epoch)+100)))
		for _, sel := range batches {
			if ctx.Err() != nil {
				interrupted = true
				break train
			}
			lr := lmWarmupCosine(o.LR, step, warmup, steps, 0)
			for _, g := range opt.Groups() {
				g.LR = lr
			}
			ids, labels, n := lmPad(train, sel, tok.eos)
			for _, p := range params {
				p.ReleaseGrad()
			}
			loss := lm.NextTokenLoss(forward(ids), labels)
			mem.observe()
			l := float64(loss.Item())
			loss.BackwardRelease()
			mem.observe()
			optim.ClipGradNorm(params, 1, 2)
			opt.Step()
			if step == 0 {
				running = l
			} else {
				running = 0.95*running + 0.05*l
			}
			step++
			tokens += n
			prog.step(running, lr, n)
			if step%10 == 0 || step == steps {
				hist = append(hist, lmLossPoint{Step: step, Loss: running, LR: lr, Elapsed: time.Since(start).Seconds()})
			}
		}
		vl := valLoss()
		hist = append(hist, lmLossPoint{Step: step, Loss: running, ValLoss: vl, Elapsed: time.Since(start).Seconds()})
		if !o.Progress {
			fmt.Fprintf(log, "epoch %d/%d: loss %.4f, validation %.4f, %.0f s\n", epoch+1, o.Epochs, running, vl, time.Since(start).Seconds())
		}
	}
	prog.finish()
	trainSeconds := time.Since(start).Seconds()

	// Save: the adapter alone in PEFT's layout, or the whole model.
	stored := 0
	if pm != nil {
		ck, err := pm.Checkpoint(peft.DefaultAdapter)
		if err != nil {
			return nil, err
		}
		for _, t := range ck.Tensors {
			stored += t.Tensor.Size()
		}
		if err := ck.Save(filepath.Join(o.Out, "adapter")); err != nil {
			return nil, err
		}
	} else {
		stored = baseTotal
		if err := lm.Save(filepath.Join(o.Out, "model"), m); err != nil {
			return nil, err
		}
		if err := writeLMTokenizer(filepath.Join(o.Out, "model")); err != nil {
			return nil, err
		}
	}
	if interrupted {
		return nil, fmt.Errorf("interrupted after %d of %d steps: the %s trained so far is saved in %s; no evaluation", step, steps,
			map[bool]string{true: "adapter", false: "model"}[pm != nil], o.Out)
	}
	if err := lmPlotLoss(filepath.Join(o.Out, "loss.png"), "fovea finetune lm --method "+o.Method, hist); err != nil {
		return nil, err
	}

	// Evaluate: an inference model (LoRA merged, adapters frozen, prefix computed once).
	ev := &lmEval{
		Method: o.Method, Trainable: trainable, Total: total, TrainablePct: 100 * float64(trainable) / float64(total),
		Stored: stored, StoredPct: 100 * float64(stored) / float64(baseTotal), TrainSeconds: trainSeconds,
		PeakHeap: mem.peak, Steps: step, TrainLoss: running, TestMRs: len(ds.Test), RefsPerMR: ds.Config.EvalRefs,
		TokensPerSecond: float64(tokens) / max(trainSeconds, 1e-9), Options: o, History: hist,
	}
	if n := len(hist); n > 0 {
		ev.ValLoss = hist[n-1].ValLoss
	}
	setTraining(false)
	var prefix []lm.KV
	switch o.Method {
	case "lora":
		if _, err := pm.MergeAndUnload(true); err != nil {
			return nil, err
		}
	case "adapter":
		for _, p := range pm.Parameters() {
			p.SetRequiresGrad(false)
		}
	case "prefix":
		past, err := peft.Past[lm.KV](pm)
		if err != nil {
			return nil, err
		}
		for _, kv := range past {
			prefix = append(prefix, lm.KV{K: kv.K.Detach(), V: kv.V.Detach()})
		}
	}
	nn.Freeze(m)
	nn.Eval(m)
	start = time.Now()
	outs, err := lmGenerateAll(ctx, m, tok, ds.Test, prefix, o.MaxNew)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted during the evaluation: the trained %s is saved in %s; no eval.json",
			map[bool]string{true: "adapter", false: "model"}[pm != nil], o.Out)
	}
	if err != nil {
		return nil, err
	}
	ev.EvalSeconds = time.Since(start).Seconds()
	ev.VmHWM = lmVmHWM()
	var mrs []tabletext.MR
	var refs [][]string
	for _, ex := range ds.Test {
		mrs = append(mrs, ex.MR)
		refs = append(refs, ex.Refs)
	}
	score, err := bleu.Corpus(outs, refs, bleu.Options{})
	if err != nil {
		return nil, err
	}
	ev.BLEU, ev.BLEUSignature = score.Score, score.String()
	ev.SlotCoverage, ev.SlotsRealised = tabletext.SlotCoverage(mrs, outs)
	var pred strings.Builder
	for i, mr := range mrs {
		fmt.Fprintf(&pred, "%s\t%s\n", mr, outs[i])
		if i < 10 {
			ev.Samples = append(ev.Samples, lmSample{MR: mr.String(), Output: outs[i], Covered: tabletext.Covered(mr, outs[i])})
		}
	}
	if err := atomicfile.WriteBytes(filepath.Join(o.Out, "predictions.txt"), []byte(pred.String())); err != nil {
		return nil, err
	}
	if err := lmWriteJSON(filepath.Join(o.Out, "eval.json"), ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// lmGenerateAll decodes every test MR greedily (prompt MR <sep>, until <|endoftext|> or
// maxNew tokens) on GOMAXPROCS goroutines sharing the frozen model. It stops early when
// ctx is done.
func lmGenerateAll(ctx context.Context, m *lm.Model, tok *lmTokenizer, exs []tabletext.Example, prefix []lm.KV, maxNew int) ([]string, error) {
	outs := make([]string, len(exs))
	errs := make([]error, len(exs))
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(exs) || ctx.Err() != nil {
					return
				}
				prompt := append(tok.Encode(exs[i].MR.String()), tok.sep)
				limit := min(maxNew, m.Config.NPositions-len(prompt))
				if limit < 1 {
					errs[i] = fmt.Errorf("test MR %q: prompt of %d tokens leaves no room in n_positions %d", exs[i].MR, len(prompt), m.Config.NPositions)
					continue
				}
				g, err := m.Generate(prompt, lm.GenerateOptions{MaxNewTokens: limit, StopTokens: []int{tok.eos}, Prefix: prefix,
					OnToken: func(int) bool { return ctx.Err() == nil }})
				if err != nil {
					errs[i] = err
					continue
				}
				var bytes []int
				for _, t := range g.Tokens {
					if t < 256 {
						bytes = append(bytes, t)
					}
				}
				outs[i] = strings.TrimSpace(tok.Decode(bytes))
			}
		}()
	}
	wg.Wait()
	return outs, errors.Join(errs...)
}
