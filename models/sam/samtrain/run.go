package samtrain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/peft"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// ErrInterrupted is returned by Run when its context was cancelled: a checkpoint of the
// exact position was saved first (it is train.ErrInterrupted, so callers handle both
// trainings alike).
var ErrInterrupted = train.ErrInterrupted

// Options are the run-time choices that are not part of the experiment.
type Options struct {
	Resume    bool      // continue from Out/checkpoint.safetensors
	Overwrite bool      // replace a run already in Out
	Log       io.Writer // epoch lines and the progress bar (nil: discard)
	Progress  bool      // draw a progress bar

	// interruptAfter, if positive, behaves as a cancel after this many steps (tests).
	interruptAfter int
}

// EpochRecord is one line of metrics.jsonl.
type EpochRecord struct {
	Epoch        int     `json:"epoch"`
	Loss         float64 `json:"loss"`
	TrainIoU     float64 `json:"train_last_round_IoU"` // mean IoU after the last simulated round
	LR           float64 `json:"lr"`
	EvalResult           // validation
	TrainSeconds float64 `json:"train_seconds"`
	Elapsed      float64 `json:"elapsed"`
}

// Result is what a finished run reports, also written as metrics.json.
type Result struct {
	Before          EvalResult `json:"before"` // validation before training
	Val             EvalResult `json:"val"`    // after the last epoch
	Epochs          int        `json:"epochs"`
	Steps           int        `json:"steps"`
	TrainSeconds    float64    `json:"train_seconds"`
	TotalParams     int        `json:"total_params"`
	TrainableParams int        `json:"trainable_params"`
	// MaxRSSBytes is the process's peak resident memory when the run ended (Linux's
	// getrusage; the whole process, so a run in its own process measures itself).
	MaxRSSBytes int64  `json:"max_rss_bytes"`
	Method      string `json:"method"`
}

// state is the position of a run, saved in checkpoints.
type state struct {
	Epochs   int           `json:"epochs"`
	Epoch    int           `json:"epoch"` // epochs finished
	Batch    int           `json:"batch"` // batches finished in the current epoch
	LossSum  float64       `json:"loss_sum"`
	IoUSum   float64       `json:"iou_sum"`
	Elapsed  float64       `json:"elapsed"`
	Before   *EvalResult   `json:"before,omitempty"`
	History  []EpochRecord `json:"history"`
	BestMIoU float64       `json:"best_mIoU"`
}

// run is a model being trained: the SAM model, its PEFT wrapper (nil for full and
// decoder training) and the trainable parameters.
type run struct {
	model  *sam.Model
	pm     *peft.Model
	params []*tensor.Tensor
}

// Build makes the model of cfg ready to train: the architecture or Init's weights, with
// the method's trainable parameters (adapters attached with a generator seeded from
// Seed). It is what Run does first; a resumed run rebuilds the same model.
func Build(cfg Config) (*sam.Model, *peft.Model, []*tensor.Tensor, error) {
	var m *sam.Model
	var err error
	if cfg.Init != "" {
		m, err = LoadModel(cfg.Init, cfg.InitConfig)
	} else {
		m, err = sam.New(rand.New(rand.NewPCG(cfg.Seed, 0x5a4d)), cfg.Model)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	nn.Unfreeze(m)
	var pm *peft.Model
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xada))
	switch cfg.Method {
	case MethodDecoder:
		nn.Freeze(m.ImageEncoder)
		nn.Freeze(m.PromptEncoder)
	case MethodLoRA:
		var pats []string
		for _, t := range cfg.LoRATargets {
			pats = append(pats, t)
		}
		pm, err = peft.NewModel(m, &peft.LoraConfig{R: cfg.LoRARank, LoraAlpha: cfg.LoRAAlpha,
			TargetModules: peft.Regex(`image_encoder\..*\.attn\.(` + strings.Join(pats, "|") + `)$`)}, rng)
	case MethodAdapter:
		// Medical SAM Adapter: an adapter after each block's attention and one
		// beside its MLP; here after attn.proj and mlp.lin2 (Houlsby's placement).
		pm, err = peft.NewModel(m, &peft.BottleneckConfig{
			TargetModules:   peft.Regex(`image_encoder\..*\.(attn\.proj|mlp\.lin2)$`),
			ReductionFactor: cfg.AdapterReduction, NonLinearity: peft.GELU}, rng)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if pm != nil {
		// SAMed and Medical SAM Adapter train the prompt encoder and decoder too.
		nn.Unfreeze(m.PromptEncoder)
		nn.Unfreeze(m.MaskDecoder)
		return m, pm, pm.Parameters(), nil
	}
	var ps []*tensor.Tensor
	for _, p := range nn.Parameters(m) {
		if p.RequiresGrad() {
			ps = append(ps, p)
		}
	}
	return m, nil, ps, nil
}

// LoadModel reads SAM weights for training or evaluation: a file written by Run
// (last.safetensors, best.safetensors: the architecture is in its metadata), or any
// file sam.Load reads (with configPath, or the architecture from the shapes). The model
// is frozen.
func LoadModel(path, configPath string) (*sam.Model, error) {
	if configPath == "" {
		if f, err := safetensors.Open(path); err == nil {
			meta := f.Metadata()["fovea.sam"]
			f.Close()
			if meta != "" {
				var c sam.Config
				if err := json.Unmarshal([]byte(meta), &c); err != nil {
					return nil, fmt.Errorf("%s: metadata fovea.sam: %w", path, err)
				}
				tmp, err := os.CreateTemp("", "sam-config-*.json")
				if err != nil {
					return nil, err
				}
				defer os.Remove(tmp.Name())
				if _, err := tmp.Write([]byte(meta)); err != nil {
					tmp.Close()
					return nil, err
				}
				tmp.Close()
				configPath = tmp.Name()
			}
		}
	}
	return sam.Load(path, configPath)
}

// SaveModel writes the model's state dict (SAM's names, loadable by sam.Load and
// LoadModel) with its architecture in the metadata ("fovea.sam") and extra.
func SaveModel(path string, m *sam.Model, extra map[string]string) error {
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(m) {
		ts = append(ts, f32(e.Name, e.Tensor))
	}
	b, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	meta := map[string]string{"fovea.sam": string(b)}
	for k, v := range extra {
		meta[k] = v
	}
	return safetensors.Save(path, ts, meta)
}

func f32(name string, t *tensor.Tensor) safetensors.Tensor {
	return safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: t.Shape(), Float32: t.Data()}
}

// OpenData returns the training and validation instances cfg names.
func OpenData(cfg Config) (trainDS, valDS Instances, err error) {
	if cfg.Dataset == "coco" {
		tr, err := data.OpenCOCO(cfg.COCO, cfg.COCOImages, data.COCOOptions{SkipCrowd: true})
		if err != nil {
			return nil, nil, err
		}
		trainDS, valDS = COCOInstances{tr}, COCOInstances{tr}
		if cfg.ValCOCO != "" {
			dir := cfg.ValCOCOImages
			if dir == "" {
				dir = cfg.COCOImages
			}
			va, err := data.OpenCOCO(cfg.ValCOCO, dir, data.COCOOptions{SkipCrowd: true})
			if err != nil {
				return nil, nil, err
			}
			valDS = COCOInstances{va}
		}
		return trainDS, valDS, nil
	}
	tr, err := data.Shapes(cfg.Shapes, "train")
	if err != nil {
		return nil, nil, err
	}
	va, err := data.Shapes(cfg.Shapes, "val")
	if err != nil {
		return nil, nil, err
	}
	return ShapesInstances{tr}, ShapesInstances{va}, nil
}

// Run trains as cfg says, writing into cfg.Out: checkpoint.safetensors (the exact
// position, for Resume), last.safetensors and best.safetensors (the model, SAM's names),
// adapter/ (PEFT's layout, for lora and adapter), config.json, model.json,
// metrics.jsonl, metrics.json, curves.png and overlays/. Validation (Evaluate) runs
// before training and after each epoch.
func Run(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Threads > 0 {
		cpu.SetThreads(cfg.Threads)
	}
	ckpt := filepath.Join(cfg.Out, "checkpoint.safetensors")
	if !opt.Resume && !opt.Overwrite {
		for _, f := range []string{"checkpoint.safetensors", "last.safetensors"} {
			if _, err := os.Stat(filepath.Join(cfg.Out, f)); err == nil {
				return nil, fmt.Errorf("train sam: %s already holds a run (%s): continue it with --resume, or give a new --out folder (or --overwrite to replace it)", cfg.Out, f)
			}
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if _, err := atomicfile.RemoveStale(cfg.Out); err != nil {
		return nil, err
	}
	if opt.Resume {
		// The run's own settings, except where to write and how many threads.
		var saved Config
		if err := readCheckpointMeta(ckpt, "fovea.samtrain", &saved); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		saved.Out, saved.Threads = cfg.Out, cfg.Threads
		cfg = saved
	}
	trainDS, valDS, err := OpenData(cfg)
	if err != nil {
		return nil, err
	}
	model, pm, params, err := Build(cfg)
	if err != nil {
		return nil, err
	}
	r := &run{model: model, pm: pm, params: params}
	var extra []*tensor.Tensor // adapter parameters (also when frozen), for evaluation
	if pm != nil {
		extra = pm.Parameters()
	}
	opter := newOptimizer(params, cfg)
	stepsPerEpoch := trainDS.Len() / cfg.Batch
	if stepsPerEpoch == 0 {
		return nil, fmt.Errorf("train sam: %d training images is less than one batch of %d", trainDS.Len(), cfg.Batch)
	}
	st := &state{Epochs: cfg.Epochs}
	if opt.Resume {
		if err := loadCheckpoint(ckpt, r, opter, st); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		fmt.Fprintf(opt.Log, "resuming %s at epoch %d, batch %d\n", ckpt, st.Epoch+1, st.Batch)
	}
	if err := writeJSON(filepath.Join(cfg.Out, "config.json"), cfg); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(cfg.Out, "model.json"), model.Config); err != nil {
		return nil, err
	}
	total, trainable := countParams(r)
	fmt.Fprintf(opt.Log, "SAM %s, method %s: %d parameters, %d trainable; %d train / %d val images, %d steps per epoch\n",
		model.Config.Describe(), cfg.Method, total, trainable, trainDS.Len(), valDS.Len(), stepsPerEpoch)
	evalOpt := EvalOptions{MaxImages: cfg.ValImages, Params: extra}
	if st.Before == nil {
		before, err := Evaluate(model, valDS, evalOpt)
		if err != nil {
			return nil, err
		}
		st.Before = &before
		fmt.Fprintf(opt.Log, "before training: %s\n", before)
	}
	steps := 0
	for st.Epoch < st.Epochs {
		ep := st.Epoch
		sched := schedule(cfg, st.Epochs*stepsPerEpoch)
		perm := rand.New(rand.NewPCG(cfg.Seed, uint64(ep)<<1|1)).Perm(trainDS.Len())
		bar := newBar(opt, stepsPerEpoch, fmt.Sprintf("epoch %d/%d", ep+1, st.Epochs))
		if bar != nil && st.Batch > 0 {
			bar.Set(st.Batch)
		}
		start := time.Now()
		interrupted := false
		for bi := st.Batch; bi < stepsPerEpoch; bi++ {
			if ctx.Err() != nil || opt.interruptAfter > 0 && steps >= opt.interruptAfter {
				interrupted = true
				break
			}
			step := ep*stepsPerEpoch + bi
			lr := sched.LR(cfg.LR, step)
			for _, g := range opter.Groups() {
				g.LR = lr
			}
			batch := make([]Example, 0, cfg.Batch)
			for _, idx := range perm[bi*cfg.Batch : (bi+1)*cfg.Batch] {
				img, masks, err := trainDS.Get(idx)
				if err != nil {
					return nil, err
				}
				ex, err := ToExample(img, masks, model.Config.ImageSize)
				if err != nil {
					return nil, fmt.Errorf("training image %d: %w", idx, err)
				}
				batch = append(batch, ex)
			}
			rng := rand.New(rand.NewPCG(cfg.Seed^0x5eed, uint64(step)))
			loss, sst := BatchLoss(model, rng, batch, cfg.Recipe)
			steps++
			if loss == nil {
				st.Batch = bi + 1
				continue
			}
			for _, p := range params {
				p.ReleaseGrad()
			}
			loss.BackwardRelease()
			if cfg.ClipNorm > 0 {
				optim.ClipGradNorm(params, cfg.ClipNorm, 2)
			}
			opter.Step()
			l := float64(loss.Item())
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return nil, fmt.Errorf("train sam: loss became %v at epoch %d batch %d; lower the learning rate", l, ep+1, bi)
			}
			st.LossSum += l
			st.IoUSum += sst.LastIoU
			st.Batch = bi + 1
			if bar != nil {
				n := float64(st.Batch)
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f IoU %.3f lr %.2e", ep+1, st.Epochs, st.LossSum/n, st.IoUSum/n, lr))
				bar.Add(1)
			}
		}
		sec := time.Since(start).Seconds()
		st.Elapsed += sec
		if bar != nil {
			bar.Finish()
		}
		if interrupted {
			if err := saveCheckpoint(ckpt, r, opter, st, cfg); err != nil {
				return nil, fmt.Errorf("saving checkpoint on interrupt: %w", err)
			}
			fmt.Fprintf(opt.Log, "interrupted at epoch %d batch %d: saved %s\n", ep+1, st.Batch, ckpt)
			return nil, ErrInterrupted
		}
		val, err := Evaluate(model, valDS, evalOpt)
		if err != nil {
			return nil, err
		}
		n := float64(max(st.Batch, 1))
		rec := EpochRecord{Epoch: ep + 1, Loss: st.LossSum / n, TrainIoU: st.IoUSum / n, LR: sched.LR(cfg.LR, (ep+1)*stepsPerEpoch-1),
			EvalResult: val, TrainSeconds: sec, Elapsed: st.Elapsed}
		st.History = append(st.History, rec)
		fmt.Fprintf(opt.Log, "epoch %d: loss %.4f  val %s  (%.1fs)\n", rec.Epoch, rec.Loss, val, sec)
		st.Epoch, st.Batch, st.LossSum, st.IoUSum = ep+1, 0, 0, 0
		if ep == 0 && cfg.TimeBudget > 0 {
			plan := min(cfg.Epochs, max(1, int(0.95*cfg.TimeBudget/sec)))
			if plan != st.Epochs {
				fmt.Fprintf(opt.Log, "time budget %.0f s at %.1f s per epoch: training %d epochs\n", cfg.TimeBudget, sec, plan)
				st.Epochs = plan
			}
		}
		if val.MIoU1 > st.BestMIoU || len(st.History) == 1 {
			st.BestMIoU = val.MIoU1
			if err := saveOutputs(cfg.Out, "best", r, map[string]string{"epoch": fmt.Sprint(ep + 1), "mIoU_1pt": fmt.Sprint(val.MIoU1)}); err != nil {
				return nil, err
			}
		}
		if err := saveOutputs(cfg.Out, "last", r, map[string]string{"epoch": fmt.Sprint(ep + 1)}); err != nil {
			return nil, err
		}
		if err := saveCheckpoint(ckpt, r, opter, st, cfg); err != nil {
			return nil, err
		}
		if err := writeHistory(cfg.Out, st.History); err != nil {
			return nil, err
		}
		if err := PlotCurves(filepath.Join(cfg.Out, "curves.png"), *st.Before, st.History); err != nil {
			return nil, err
		}
	}
	if len(st.History) == 0 {
		return nil, errors.New("train sam: no epoch finished")
	}
	last := st.History[len(st.History)-1]
	res := &Result{Before: *st.Before, Val: last.EvalResult, Epochs: last.Epoch, Steps: last.Epoch * stepsPerEpoch,
		TrainSeconds: st.Elapsed, TotalParams: total, TrainableParams: trainable, MaxRSSBytes: maxRSS(), Method: cfg.Method}
	if err := writeJSON(filepath.Join(cfg.Out, "metrics.json"), res); err != nil {
		return nil, err
	}
	if cfg.Overlays > 0 {
		dir := filepath.Join(cfg.Out, "overlays")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := WriteOverlays(dir, model, valDS, cfg.Overlays, extra); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// countParams counts the model's and adapters' parameters and the trainable ones.
func countParams(r *run) (total, trainable int) {
	if r.pm != nil {
		return r.pm.CountParameters()
	}
	return nn.CountParameters(r.model)
}

// maxRSS is the process's peak resident set in bytes (0 where getrusage does not tell).
func maxRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024
}

func newBar(opt Options, steps int, desc string) *progressbar.ProgressBar {
	if !opt.Progress {
		return nil
	}
	return progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(opt.Log),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// newOptimizer is AdamW with no weight decay on tensors of fewer than two dimensions
// (biases, norms) nor on embeddings and position tables.
func newOptimizer(params []*tensor.Tensor, cfg Config) optim.Optimizer {
	var decay, noDecay []*tensor.Tensor
	for _, p := range params {
		if p.Dim() > 1 {
			decay = append(decay, p)
		} else {
			noDecay = append(noDecay, p)
		}
	}
	return optim.NewAdamW([]optim.ParamGroup{
		{Name: "decay", Params: decay},
		{Name: "no_decay", Params: noDecay, WeightDecay: optim.Float(0)},
	}, optim.AdamWOptions{LR: cfg.LR, WeightDecay: cfg.WeightDecay})
}

// schedule is the learning rate per step over a run of total steps: linear warm-up from
// 1 % of the rate over WarmupSteps, then cosine to 0 or SAM's steps (÷10 at 2/3 and 8/9).
func schedule(cfg Config, total int) optim.Schedule {
	warm := min(cfg.WarmupSteps, max(total-1, 0))
	rest := max(total-warm, 1)
	var after optim.Schedule = optim.CosineAnnealingLR{TMax: rest}
	if cfg.Schedule == "step" {
		after = optim.MultiStepLR{Milestones: []int{rest * 2 / 3, rest * 8 / 9}, Gamma: 0.1}
	}
	if warm == 0 {
		return after
	}
	return optim.WarmUp(after, warm, 0.01)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// writeHistory rewrites metrics.jsonl, one line per epoch.
func writeHistory(dir string, hist []EpochRecord) error {
	var buf []byte
	for _, r := range hist {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	return atomicfile.WriteBytes(filepath.Join(dir, "metrics.jsonl"), buf)
}

// saveOutputs writes <name>.safetensors (the model, SAM's names) and, with adapters, the
// adapter alone in PEFT's layout: adapter/ for "last", <name>_adapter/ otherwise.
func saveOutputs(dir, name string, r *run, extra map[string]string) error {
	if err := SaveModel(filepath.Join(dir, name+".safetensors"), r.model, extra); err != nil {
		return err
	}
	if r.pm == nil {
		return nil
	}
	sub := "adapter"
	if name != "last" {
		sub = name + "_adapter"
	}
	return r.pm.SavePretrained(filepath.Join(dir, sub))
}

// A checkpoint is one safetensors file: the model's state dict under "model.", the
// adapter's tensors under "adapter.", the optimizer's buffers under "optim.", and in the
// metadata the architecture ("fovea.sam"), the run's Config ("fovea.samtrain"), the
// optimizer's scalar state ("fovea.optim") and the position ("fovea.state").
func saveCheckpoint(path string, r *run, opt optim.Optimizer, st *state, cfg Config) error {
	os := opt.StateDict()
	var ts []safetensors.Tensor
	for _, e := range nn.StateDictEntries(r.model) {
		ts = append(ts, f32("model."+e.Name, e.Tensor))
	}
	if r.pm != nil {
		sd, err := r.pm.StateDict(peft.DefaultAdapter)
		if err != nil {
			return err
		}
		for name, t := range sd {
			ts = append(ts, f32("adapter."+name, t))
		}
	}
	for name, t := range os.Tensors {
		ts = append(ts, f32("optim."+name, t))
	}
	meta := map[string]string{}
	for k, v := range map[string]any{"fovea.sam": r.model.Config, "fovea.samtrain": cfg, "fovea.optim": os, "fovea.state": st} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		meta[k] = string(b)
	}
	return safetensors.Save(path, ts, meta)
}

func readCheckpointMeta(path, key string, v any) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := json.Unmarshal([]byte(f.Metadata()[key]), v); err != nil {
		return fmt.Errorf("%s: metadata %s: %w", path, key, err)
	}
	return nil
}

func loadCheckpoint(path string, r *run, opt optim.Optimizer, st *state) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	meta := f.Metadata()
	sd := map[string]*tensor.Tensor{}
	os := &optim.State{}
	if err := json.Unmarshal([]byte(meta["fovea.optim"]), os); err != nil {
		return fmt.Errorf("%s: metadata fovea.optim: %w", path, err)
	}
	os.Tensors = map[string]*tensor.Tensor{}
	var adapter map[string]*tensor.Tensor
	if r.pm != nil {
		if adapter, err = r.pm.StateDict(peft.DefaultAdapter); err != nil {
			return err
		}
	}
	seen := 0
	for _, name := range f.Names() {
		d, shape, err := f.Float32(name)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(name, "model."):
			sd[strings.TrimPrefix(name, "model.")] = tensor.New(d, shape...)
		case strings.HasPrefix(name, "optim."):
			os.Tensors[strings.TrimPrefix(name, "optim.")] = tensor.New(d, shape...)
		case strings.HasPrefix(name, "adapter."):
			t, ok := adapter[strings.TrimPrefix(name, "adapter.")]
			if !ok || !tensor.SameShape(t.Shape(), shape) {
				return fmt.Errorf("%s: tensor %s does not match this run's adapter", path, name)
			}
			copy(t.Data(), d)
			seen++
		}
	}
	if seen != len(adapter) {
		return fmt.Errorf("%s: %d adapter tensors, this run has %d", path, seen, len(adapter))
	}
	if _, err := nn.LoadStateDict(r.model, sd, true); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := opt.LoadStateDict(os); err != nil {
		return fmt.Errorf("%s: optimizer state: %w", path, err)
	}
	if err := json.Unmarshal([]byte(meta["fovea.state"]), st); err != nil {
		return fmt.Errorf("%s: metadata fovea.state: %w", path, err)
	}
	return nil
}
