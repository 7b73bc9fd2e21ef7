package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea/data/tabletext"
	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/models/lm"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// lmPretrainOptions are the settings of fovea train lm.
type lmPretrainOptions struct {
	Out                         string  `json:"-"`
	Layers, Width, Heads        int     `json:"-"`
	Positions                   int     `json:"-"`
	FeedForward, Norm           string  `json:"-"`
	Dropout                     float64 `json:"-"`
	Docs                        int     `json:"docs"`
	Seq                         int     `json:"seq"`
	Batch                       int     `json:"batch"`
	Steps                       int     `json:"steps"`
	Warmup                      int     `json:"warmup"`
	LR                          float64 `json:"lr"`
	MinLRFrac                   float64 `json:"min_lr_frac"`
	WeightDecay                 float64 `json:"weight_decay"`
	Seed                        uint64  `json:"seed"`
	EvalEvery, CheckpointEvery  int     `json:"-"`
	Threads                     int     `json:"-"`
	Resume, Overwrite, Progress bool    `json:"-"`
	// stopAt, when positive, interrupts the run at that step as Ctrl-C would (tests).
	stopAt int
}

func defaultLMPretrainOptions() lmPretrainOptions {
	return lmPretrainOptions{
		Out: "runs/lm-base", Layers: 4, Width: 128, Heads: 4, Positions: 448, FeedForward: "gelu", Norm: "layernorm",
		Docs: 4000, Seq: 128, Batch: 16, Steps: 500, Warmup: 50, LR: 2e-3, MinLRFrac: 0.1, WeightDecay: 0.1,
		Seed: 1, EvalEvery: 100, CheckpointEvery: 200,
	}
}

func (o lmPretrainOptions) modelConfig() lm.Config {
	c := lm.DefaultConfig()
	tok := newLMTokenizer()
	c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead = tok.VocabSize(), o.Positions, o.Width, o.Layers, o.Heads
	c.FeedForward, c.Norm = o.FeedForward, o.Norm
	c.AttnPdrop, c.ResidPdrop, c.EmbdPdrop = o.Dropout, o.Dropout, o.Dropout
	c.BosTokenID, c.EosTokenID = tok.eos, tok.eos
	return c
}

func (o lmPretrainOptions) validate() error {
	switch {
	case o.Steps < 1:
		return fmt.Errorf("flag --steps %d: want at least 1", o.Steps)
	case o.Batch < 1:
		return fmt.Errorf("flag --batch %d: want at least 1", o.Batch)
	case o.Seq < 2 || o.Seq > o.Positions:
		return fmt.Errorf("flag --seq %d: want 2…--positions (%d)", o.Seq, o.Positions)
	case o.Docs < 10:
		return fmt.Errorf("flag --docs %d: want at least 10", o.Docs)
	case o.Warmup < 0 || o.Warmup >= o.Steps:
		return fmt.Errorf("flag --warmup %d: want 0…--steps−1 (%d)", o.Warmup, o.Steps-1)
	case !(o.LR > 0):
		return fmt.Errorf("flag --lr %v: want > 0", o.LR)
	case o.MinLRFrac < 0 || o.MinLRFrac > 1:
		return fmt.Errorf("flag --min-lr-frac %v: want within [0, 1]", o.MinLRFrac)
	}
	if err := o.modelConfig().Validate(); err != nil {
		return fmt.Errorf("model flags (--layers, --width, --heads, --positions, --feed-forward, --norm, --dropout): %w", err)
	}
	return nil
}

// lmPretrainResult is metrics.json of a pre-training run.
type lmPretrainResult struct {
	Steps        int           `json:"steps"`
	Loss         float64       `json:"train_loss"`
	ValLoss      float64       `json:"val_loss"`
	Seconds      float64       `json:"train_seconds"`
	TokensPerSec float64       `json:"tokens_per_sec"`
	Params       int           `json:"parameters"`
	PeakHeap     uint64        `json:"peak_heap_bytes"`
	VmHWM        uint64        `json:"peak_rss_bytes"`
	Config       lm.Config     `json:"model"`
	Options      any           `json:"options"`
	History      []lmLossPoint `json:"history"`
}

// lmPretrainState is the run's position, stored in the checkpoint's metadata.
type lmPretrainState struct {
	Step    int               `json:"step"`
	Elapsed float64           `json:"elapsed_seconds"`
	Options lmPretrainOptions `json:"options"`
	History []lmLossPoint     `json:"history"`
}

var errLMInterrupted = errors.New("interrupted: checkpoint saved; continue with --resume")

func init() {
	o := defaultLMPretrainOptions()
	var quiet bool
	cmd := &cobra.Command{
		Use:   "lm",
		Short: "Pre-train a small GPT-2-layout language model (byte tokenizer) on the built-in generic corpus",
		Long: `Pre-train a small decoder-only transformer in GPT-2's layout (models/lm) with a
byte-level tokenizer (ids 0-255 the bytes, 256 <|endoftext|>, 257 <sep>) on the generic
English-like corpus of data/tabletext: --docs paragraphs drawn from --seed, joined with
<|endoftext|>, cut into random windows of --seq tokens, each step's windows placed at a
random position offset so that all --positions position embeddings train. AdamW (no decay on biases and
norms) with linear warm-up and cosine decay, gradients clipped to norm 1.

Writes into --out: config.json + model.safetensors (the GPT-2 folder layout that
models/lm loads and fovea finetune lm takes as --base), tokenizer_config.json,
metrics.json, loss.png, and checkpoint.safetensors (model, optimizer and position;
Ctrl-C saves it, --resume continues exactly).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opt := o
			if !cmd.Flags().Changed("warmup") && opt.Warmup >= opt.Steps {
				opt.Warmup = opt.Steps / 10
			}
			opt.Progress = !quiet && term.IsTerminal(int(os.Stderr.Fd()))
			res, err := runLMPretrain(ctx, opt, cmd.ErrOrStderr())
			if errors.Is(err, errLMInterrupted) {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				os.Exit(130)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done: %d steps, %.0f s, %.0f tokens/s; train loss %.4f, validation loss %.4f; %s parameters; peak heap %s; model in %s\n",
				res.Steps, res.Seconds, res.TokensPerSec, res.Loss, res.ValLoss, lmCount(res.Params), lmMiB(res.PeakHeap), opt.Out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", o.Out, "output folder")
	f.IntVar(&o.Layers, "layers", o.Layers, "transformer blocks (n_layer)")
	f.IntVar(&o.Width, "width", o.Width, "model width (n_embd)")
	f.IntVar(&o.Heads, "heads", o.Heads, "attention heads (n_head; must divide --width)")
	f.IntVar(&o.Positions, "positions", o.Positions, "context length (n_positions; fine-tuning needs MR + sentence ≤ this)")
	f.StringVar(&o.FeedForward, "feed-forward", o.FeedForward, "gelu (GPT-2's MLP) or swiglu")
	f.StringVar(&o.Norm, "norm", o.Norm, "layernorm or rmsnorm")
	f.Float64Var(&o.Dropout, "dropout", o.Dropout, "attention, residual and embedding dropout")
	f.IntVar(&o.Docs, "docs", o.Docs, "paragraphs of the generated corpus")
	f.IntVar(&o.Seq, "seq", o.Seq, "tokens per training window")
	f.IntVar(&o.Batch, "batch", o.Batch, "windows per step")
	f.IntVar(&o.Steps, "steps", o.Steps, "optimizer steps")
	f.IntVar(&o.Warmup, "warmup", o.Warmup, "linear warm-up steps")
	f.Float64Var(&o.LR, "lr", o.LR, "peak learning rate (AdamW)")
	f.Float64Var(&o.MinLRFrac, "min-lr-frac", o.MinLRFrac, "final learning rate of the cosine as a fraction of --lr")
	f.Float64Var(&o.WeightDecay, "weight-decay", o.WeightDecay, "AdamW decoupled weight decay (not on biases and norms)")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the corpus, initialisation, batches and dropout")
	f.IntVar(&o.EvalEvery, "eval-every", o.EvalEvery, "steps between validation losses (0: only at the end)")
	f.IntVar(&o.CheckpointEvery, "checkpoint-every", o.CheckpointEvery, "steps between checkpoints (0: only at the end and on Ctrl-C)")
	f.IntVar(&o.Threads, "threads", o.Threads, "compute threads (0 = all cores)")
	f.BoolVar(&o.Resume, "resume", false, "continue from --out/checkpoint.safetensors")
	f.BoolVar(&o.Overwrite, "overwrite", false, "replace a model already in --out")
	f.BoolVar(&quiet, "quiet", false, "no progress bar (it is also off when standard error is not a terminal)")
	trainCmd.AddCommand(cmd)
}

// lmStream is the corpus as one token stream: each paragraph followed by <|endoftext|>.
func lmStream(tok *lmTokenizer, docs []string) []int {
	var out []int
	for _, d := range docs {
		out = append(out, tok.Encode(d)...)
		out = append(out, tok.eos)
	}
	return out
}

// lmWindows returns b windows of n tokens of stream at offsets drawn from rng.
func lmWindows(stream []int, b, n int, rng *rand.Rand) *tensor.Tensor {
	rows := make([][]int, b)
	for i := range rows {
		off := rng.IntN(len(stream) - n + 1)
		rows[i] = stream[off : off+n]
	}
	return lm.IDs(rows...)
}

// lmDecayGroups splits parameters into AdamW groups: weight decay on matrices, none on
// biases and norms (one-dimensional tensors).
func lmDecayGroups(params []*tensor.Tensor, wd float64) []optim.ParamGroup {
	var decay, none []*tensor.Tensor
	for _, p := range params {
		if p.Dim() >= 2 {
			decay = append(decay, p)
		} else {
			none = append(none, p)
		}
	}
	var gs []optim.ParamGroup
	if len(decay) > 0 {
		gs = append(gs, optim.ParamGroup{Name: "decay", Params: decay, WeightDecay: optim.Float(wd)})
	}
	if len(none) > 0 {
		gs = append(gs, optim.ParamGroup{Name: "no_decay", Params: none, WeightDecay: optim.Float(0)})
	}
	return gs
}

func runLMPretrain(ctx context.Context, o lmPretrainOptions, log io.Writer) (lmPretrainResult, error) {
	if err := o.validate(); err != nil {
		return lmPretrainResult{}, err
	}
	if o.Threads > 0 {
		cpu.SetThreads(o.Threads)
	}
	ckpt := filepath.Join(o.Out, "checkpoint.safetensors")
	if o.Resume {
		if _, err := os.Stat(ckpt); err != nil {
			return lmPretrainResult{}, fmt.Errorf("--resume: %w", err)
		}
	} else if !o.Overwrite {
		for _, name := range []string{"model.safetensors", "checkpoint.safetensors"} {
			if _, err := os.Stat(filepath.Join(o.Out, name)); err == nil {
				return lmPretrainResult{}, fmt.Errorf("%s already holds a model (%s): pass --resume to continue it or --overwrite to replace it", o.Out, name)
			}
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return lmPretrainResult{}, err
	}
	atomicfile.RemoveStale(o.Out)
	tok := newLMTokenizer()
	cfg := o.modelConfig()
	m, err := lm.New(rand.New(rand.NewPCG(o.Seed, 11)), cfg)
	if err != nil {
		return lmPretrainResult{}, err
	}
	params := nn.Parameters(m)
	opt := optim.NewAdamW(lmDecayGroups(params, o.WeightDecay), optim.AdamWOptions{LR: o.LR, Beta2: 0.99})
	st := lmPretrainState{Options: o}
	if o.Resume {
		if err := loadLMCheckpoint(ckpt, m, opt, &st); err != nil {
			return lmPretrainResult{}, err
		}
		if st.Options.Steps != o.Steps || st.Options.Seed != o.Seed || st.Options.Docs != o.Docs || st.Options.Seq != o.Seq || st.Options.Batch != o.Batch {
			return lmPretrainResult{}, fmt.Errorf("%s: run options %+v differ from the flags %+v: resume with the same --steps, --seed, --docs, --seq and --batch", ckpt, st.Options, o)
		}
		fmt.Fprintf(log, "resuming %s at step %d of %d\n", ckpt, st.Step, o.Steps)
	}
	train := lmStream(tok, tabletext.Corpus(o.Seed, o.Docs))
	val := lmStream(tok, tabletext.Corpus(o.Seed+1_000_003, max(o.Docs/20, 8)))
	if len(train) < o.Seq+1 || len(val) < o.Seq+1 {
		return lmPretrainResult{}, fmt.Errorf("flag --docs %d: corpus of %d tokens is shorter than --seq %d", o.Docs, len(train), o.Seq)
	}
	// Validation: fixed non-overlapping windows of the validation stream.
	var valRows [][]int
	for off := 0; off+o.Seq <= len(val) && len(valRows) < 64; off += o.Seq {
		valRows = append(valRows, val[off:off+o.Seq])
	}
	valLoss := func() float64 {
		nn.Freeze(m)
		nn.Eval(m)
		defer func() { nn.Unfreeze(m); nn.SetTraining(m, true) }()
		var sum float64
		for i := 0; i < len(valRows); i += o.Batch {
			ids := lm.IDs(valRows[i:min(i+o.Batch, len(valRows))]...)
			sum += float64(lm.NextTokenLoss(m.Forward(ids), ids).Item()) * float64(ids.SizeOf(0))
		}
		return sum / float64(len(valRows))
	}
	nTotal, _ := nn.CountParameters(m)
	fmt.Fprintf(log, "train lm: %d layers, width %d, %d heads, %s parameters; corpus %d tokens; %d steps of %d×%d tokens\n",
		cfg.NLayer, cfg.NEmbd, cfg.NHead, lmCount(nTotal), len(train), o.Steps, o.Batch, o.Seq)
	mem := newLMPeakMemory()
	nn.SetTraining(m, true)
	prog := newLMProgress(o.Progress, os.Stderr, o.Steps, st.Step, "pre-train")
	start := time.Now()
	elapsed0 := st.Elapsed
	save := func() error {
		st.Elapsed = elapsed0 + time.Since(start).Seconds()
		return saveLMCheckpoint(ckpt, m, opt, &st)
	}
	var running float64
	var lastLoss float64
	for st.Step < o.Steps {
		if ctx.Err() != nil || (o.stopAt > 0 && st.Step == o.stopAt) {
			prog.finish()
			if err := save(); err != nil {
				return lmPretrainResult{}, err
			}
			return lmPretrainResult{}, errLMInterrupted
		}
		t := st.Step
		lr := lmWarmupCosine(o.LR, t, o.Warmup, o.Steps, o.MinLRFrac)
		for _, g := range opt.Groups() {
			g.LR = lr
		}
		brng := rand.New(rand.NewPCG(o.Seed, uint64(t)+1))
		ids := lmWindows(train, o.Batch, o.Seq, brng)
		// Each step's windows start at a random position id, so that every row of wpe
		// up to n_positions trains although the windows are shorter.
		posOff := brng.IntN(o.Positions - o.Seq + 1)
		m.Rng = rand.New(rand.NewPCG(o.Seed^0xd50, uint64(t)))
		for _, p := range params {
			p.ReleaseGrad()
		}
		loss := lm.NextTokenLoss(m.ForwardWith(ids, lm.ForwardOptions{PosOffset: posOff}).Logits, ids)
		mem.observe()
		lastLoss = float64(loss.Item())
		loss.BackwardRelease()
		mem.observe()
		optim.ClipGradNorm(params, 1, 2)
		opt.Step()
		if t == 0 {
			running = lastLoss
		} else {
			running = 0.95*running + 0.05*lastLoss
		}
		st.Step++
		prog.step(running, lr, o.Batch*o.Seq)
		pt := lmLossPoint{Step: st.Step, Loss: running, LR: lr, Elapsed: elapsed0 + time.Since(start).Seconds()}
		if (o.EvalEvery > 0 && st.Step%o.EvalEvery == 0) || st.Step == o.Steps {
			pt.ValLoss = valLoss()
			if !o.Progress {
				fmt.Fprintf(log, "step %d/%d: loss %.4f, validation %.4f, lr %.2e, %.0f s\n", st.Step, o.Steps, running, pt.ValLoss, lr, pt.Elapsed)
			}
		}
		if st.Step%10 == 0 || pt.ValLoss > 0 {
			st.History = append(st.History, pt)
		}
		if o.CheckpointEvery > 0 && st.Step%o.CheckpointEvery == 0 && st.Step < o.Steps {
			if err := save(); err != nil {
				return lmPretrainResult{}, err
			}
		}
	}
	prog.finish()
	seconds := elapsed0 + time.Since(start).Seconds()
	if err := save(); err != nil {
		return lmPretrainResult{}, err
	}
	if err := lm.Save(o.Out, m); err != nil {
		return lmPretrainResult{}, err
	}
	if err := writeLMTokenizer(o.Out); err != nil {
		return lmPretrainResult{}, err
	}
	res := lmPretrainResult{
		Steps: st.Step, Loss: running, Seconds: seconds, Params: nTotal, PeakHeap: mem.peak, VmHWM: lmVmHWM(),
		Config: cfg, Options: o, History: st.History,
	}
	if n := len(st.History); n > 0 {
		res.ValLoss = st.History[n-1].ValLoss
	}
	res.TokensPerSec = float64(st.Step*o.Batch*o.Seq) / max(seconds, 1e-9)
	if err := lmWriteJSON(filepath.Join(o.Out, "metrics.json"), res); err != nil {
		return res, err
	}
	if err := lmPlotLoss(filepath.Join(o.Out, "loss.png"), "fovea train lm", st.History); err != nil {
		return res, err
	}
	return res, nil
}

// saveLMCheckpoint writes the model ("model." names), the optimizer ("optim." names)
// and, as metadata, the model config, the optimizer's scalar state and the run state.
func saveLMCheckpoint(path string, m *lm.Model, opt optim.Optimizer, st *lmPretrainState) error {
	os := opt.StateDict()
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(m) {
		ts = append(ts, safetensors.Tensor{Name: "model." + e.Name, DType: safetensors.F32, Shape: e.Tensor.Shape(), Float32: e.Tensor.Data()})
	}
	for name, t := range os.Tensors {
		ts = append(ts, safetensors.Tensor{Name: "optim." + name, DType: safetensors.F32, Shape: t.Shape(), Float32: t.Data()})
	}
	meta := map[string]string{}
	for k, v := range map[string]any{"fovea.lm.config": m.Config, "fovea.optim": os, "fovea.lm.state": st} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		meta[k] = string(b)
	}
	return safetensors.Save(path, ts, meta)
}

func loadLMCheckpoint(path string, m *lm.Model, opt optim.Optimizer, st *lmPretrainState) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	meta := f.Metadata()
	var cfg lm.Config
	if err := json.Unmarshal([]byte(meta["fovea.lm.config"]), &cfg); err != nil {
		return fmt.Errorf("%s: metadata fovea.lm.config: %w", path, err)
	}
	if cfg != m.Config {
		return fmt.Errorf("%s: checkpoint model %+v differs from the model of the flags %+v", path, cfg, m.Config)
	}
	os := &optim.State{}
	if err := json.Unmarshal([]byte(meta["fovea.optim"]), os); err != nil {
		return fmt.Errorf("%s: metadata fovea.optim: %w", path, err)
	}
	if err := json.Unmarshal([]byte(meta["fovea.lm.state"]), st); err != nil {
		return fmt.Errorf("%s: metadata fovea.lm.state: %w", path, err)
	}
	sd := map[string]*tensor.Tensor{}
	os.Tensors = map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		data, shape, err := f.Float32(name)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case strings.HasPrefix(name, "model."):
			sd[strings.TrimPrefix(name, "model.")] = tensor.New(data, shape...)
		case strings.HasPrefix(name, "optim."):
			os.Tensors[strings.TrimPrefix(name, "optim.")] = tensor.New(data, shape...)
		}
	}
	if _, err := nn.LoadStateDict(m, sd, true); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := opt.LoadStateDict(os); err != nil {
		return fmt.Errorf("%s: optimizer state: %w", path, err)
	}
	return nil
}
