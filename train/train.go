package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/internal/cpu"
	"github.com/fovea-ml/fovea/metrics/seg"
	"github.com/fovea-ml/fovea/models/gcn"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/stochastic"
	"github.com/fovea-ml/fovea/tensor"
)

// ErrInterrupted is returned by Run when its context was cancelled (Ctrl-C):
// a checkpoint of the exact position was saved first, and Run with Resume
// continues from it.
var ErrInterrupted = errors.New("training interrupted; checkpoint saved, continue with --resume")

// Result is what a finished run reports (also written as metrics.json).
type Result struct {
	Val          Summary `json:"val"`
	BestMIoU     float64 `json:"best_mIoU"`
	Epochs       int     `json:"epochs"`
	TrainSeconds float64 `json:"train_seconds"`
}

// Summary holds the four headline validation scores.
type Summary struct {
	AAcc  float64 `json:"aAcc"`
	MAcc  float64 `json:"mAcc"`
	MIoU  float64 `json:"mIoU"`
	FWIoU float64 `json:"fwIoU"`
}

// Options are the run-time choices that are not part of the experiment.
type Options struct {
	Resume bool // continue from Out/checkpoint.safetensors
	// Overwrite lets a new run replace the checkpoints of a run already in Out;
	// without it (and without Resume) Run refuses such a folder.
	Overwrite bool
	Log       io.Writer // progress bar and epoch lines (nil: discard)
	Progress  bool      // draw a progress bar
	// OnEvent, if not nil, receives an Event when the run starts, after every step,
	// after every validated epoch (with overlays) and when it finishes, on the training
	// goroutine: it must return quickly (see events.go).
	OnEvent func(Event)

	// interruptAfter, if positive, makes the run behave as if cancelled
	// after this many training steps (for tests of the interrupt path).
	interruptAfter int
}

// Run trains a model as cfg says, writing checkpoints, logs and charts into
// cfg.Out, and returns the final validation scores.
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
	if !opt.Resume && !opt.Overwrite {
		for _, f := range []string{"checkpoint.safetensors", "last.safetensors", "best.safetensors"} {
			if _, err := os.Stat(filepath.Join(cfg.Out, f)); err == nil {
				if _, err := os.Stat(filepath.Join(cfg.Out, "checkpoint.safetensors")); err != nil {
					return nil, fmt.Errorf("train: %s already holds a run (%s) that has no checkpoint.safetensors to resume from: give a new --out folder, or --overwrite to replace it", cfg.Out, f)
				}
				return nil, fmt.Errorf("train: %s already holds a run (%s): continue it with --resume, or give a new --out folder (or --overwrite to replace it)", cfg.Out, f)
			}
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: out (--out) %s: want a folder: %w", cfg.Out, err)
	}
	// Temporary files of a killed run (a checkpoint half written) are garbage.
	if _, err := atomicfile.RemoveStale(cfg.Out); err != nil {
		return nil, err
	}
	trainDS, valDS, classes, err := openData(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Model.NumClasses = len(classes)
	cfg.NumClasses = len(classes)
	model, err := gcn.New(rand.New(rand.NewPCG(cfg.Seed, 0x6c)), cfg.Model)
	if err != nil {
		return nil, err
	}
	opter := newOptimizer(model, cfg)
	loader := data.NewLoader(trainDS, data.LoaderConfig{
		BatchSize: cfg.Batch, Shuffle: true, DropLast: true, Workers: cfg.Workers, Seed: cfg.Seed,
		Transform: trainTransform(cfg),
	})
	stepsPerEpoch := loader.Len()
	if stepsPerEpoch == 0 {
		return nil, fmt.Errorf("train: %d training images is less than one batch of %d", trainDS.Len(), cfg.Batch)
	}
	st := &state{}
	ckpt := filepath.Join(cfg.Out, "checkpoint.safetensors")
	if opt.Resume {
		if _, err := os.Stat(ckpt); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("resume: %s has no checkpoint.safetensors (the run stopped before its first epoch ended): start it again with --overwrite", cfg.Out)
		}
		if err := loadCheckpoint(ckpt, model, opter, st); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		if err := checkResume(ckpt, st.Config, cfg); err != nil {
			return nil, err
		}
		fmt.Fprintf(opt.Log, "resuming %s at epoch %d, batch %d\n", ckpt, st.Epoch+1, st.Batch)
	}
	if err := writeJSON(filepath.Join(cfg.Out, "config.json"), cfg); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(cfg.Out, "model.json"), cfg.Model); err != nil {
		return nil, err
	}
	params := nn.CountParameters
	total, _ := params(model)
	fmt.Fprintf(opt.Log, "GCN %s×%.2g k=%d %s BR=%v: %d parameters; %d train / %d val images, %d steps per epoch\n",
		cfg.Model.Backbone, cfg.Model.Width, cfg.Model.K, cfg.Model.Upsampler, cfg.Model.BR, total, trainDS.Len(), valDS.Len(), stepsPerEpoch)

	if st.Epochs == 0 {
		st.Epochs = cfg.Epochs
	}
	st.Config = &cfg
	sched := schedule{cfg: cfg, epochs: st.Epochs, stepsPerEpoch: stepsPerEpoch}
	opt.emit(Event{Kind: EventStart, Run: runName(cfg), Epoch: st.Epoch + 1, Epochs: st.Epochs, Step: st.Epoch*stepsPerEpoch + st.Batch, StepsPerEpoch: stepsPerEpoch, Classes: classes})
	steps := 0 // steps taken by this call
	for st.Epoch < st.Epochs {
		if cfg.TimeBudget > 0 && st.Elapsed >= cfg.TimeBudget {
			break
		}
		ep := st.Epoch
		nn.SetTraining(model, true)
		bar := newProgress(opt, stepsPerEpoch, fmt.Sprintf("epoch %d/%d", ep+1, st.Epochs))
		bar.skip(st.Batch)
		start := time.Now()
		var lossMeter stochastic.Mean // the epoch's running mean loss (an incremental mean)
		if st.LossN > 0 {
			lossMeter.AddWeighted(st.LossMean, float64(st.LossN))
		}
		bi := 0
		resumedAt := st.Batch // batches of this epoch trained before a resume
		interrupted := false
		for b, err := range loader.Epoch(ep) {
			if err != nil {
				return nil, err
			}
			if bi < st.Batch { // already trained before the resume
				bi++
				continue
			}
			if ctx.Err() != nil || opt.interruptAfter > 0 && steps >= opt.interruptAfter {
				interrupted = true
				break
			}
			steps++
			lr := sched.lr(ep*stepsPerEpoch + bi)
			for _, g := range opter.Groups() {
				g.LR = lr
			}
			logits := model.Forward(b.Images)
			loss := tensor.CrossEntropy(logits, b.Masks, tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(data.Ignore)})
			for _, g := range opter.Groups() {
				for _, p := range g.Params {
					p.ReleaseGrad() // last step's gradients: the optimizer is done with them, recycle their buffers
				}
			}
			loss.BackwardRelease() // the step keeps no intermediate result: recycle their buffers
			opter.Step()
			l := float64(loss.Item())
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return nil, fmt.Errorf("train: loss became %v at epoch %d batch %d; lower the learning rate", l, ep+1, bi)
			}
			lossMeter.Add(l)
			bi++
			bar.step(lossMeter.Value(), lr, float64(b.Len()))
			opt.emit(Event{Kind: EventStep, Epoch: ep + 1, Epochs: st.Epochs, Step: ep*stepsPerEpoch + bi, StepsPerEpoch: stepsPerEpoch, Loss: l, LR: lr})
			if cfg.TimeBudget > 0 && st.Elapsed+time.Since(start).Seconds() >= cfg.TimeBudget && bi < stepsPerEpoch {
				// out of time: finish this epoch early
				break
			}
		}
		trainSec := time.Since(start).Seconds()
		bar.finish()
		if interrupted {
			st.Batch, st.LossMean, st.LossN = bi, lossMeter.Value(), int(lossMeter.Weight())
			st.Elapsed += trainSec
			if err := saveCheckpoint(ckpt, model, opter, st); err != nil {
				return nil, fmt.Errorf("saving checkpoint on interrupt: %w", err)
			}
			fmt.Fprintf(opt.Log, "interrupted at epoch %d batch %d: saved %s\n", ep+1, bi, ckpt)
			return nil, ErrInterrupted
		}
		st.Elapsed += trainSec
		cm, err := Evaluate(model, valDS, cfg.Batch, len(classes))
		if err != nil {
			return nil, err
		}
		sc := cm.Scores()
		rec := EpochRecord{
			Epoch: ep + 1, Loss: lossMeter.Value(), LR: sched.lr((ep+1)*stepsPerEpoch - 1),
			AAcc: sc.AAcc, MAcc: sc.MAcc, MIoU: sc.MIoU, FWIoU: sc.FWIoU, IoU: sc.IoU,
			TrainSeconds: trainSec, Elapsed: st.Elapsed, ImagesPerSec: float64((bi-resumedAt)*cfg.Batch) / trainSec,
		}
		st.History = append(st.History, rec)
		fmt.Fprintf(opt.Log, "epoch %d: loss %.4f  val PA %.4f  MPA %.4f  MIoU %.4f  FWIoU %.4f  (%.1fs, %.1f img/s)\n",
			rec.Epoch, rec.Loss, rec.AAcc, rec.MAcc, rec.MIoU, rec.FWIoU, trainSec, rec.ImagesPerSec)
		st.Epoch, st.Batch, st.LossMean, st.LossN = ep+1, 0, 0, 0
		if ep == 0 && cfg.TimeBudget > 0 {
			// Plan the run from the first epoch's speed so that the whole
			// schedule fits the budget (the first epoch is warm-up by default,
			// so the decay has not started yet).
			plan := min(cfg.Epochs, max(1, int(0.97*cfg.TimeBudget/trainSec)))
			if plan != st.Epochs {
				fmt.Fprintf(opt.Log, "time budget %.0f s at %.1f s per epoch: training %d epochs\n", cfg.TimeBudget, trainSec, plan)
				st.Epochs, sched.epochs = plan, plan
			}
		}
		if err := opt.epochEvent(model, valDS, classes, rec, st.Epochs, (ep+1)*stepsPerEpoch, stepsPerEpoch); err != nil {
			return nil, err
		}
		if sc.MIoU > st.BestMIoU || len(st.History) == 1 {
			st.BestMIoU = sc.MIoU
			if err := saveModel(filepath.Join(cfg.Out, "best.safetensors"), model, map[string]string{"epoch": fmt.Sprint(ep + 1), "mIoU": fmt.Sprint(sc.MIoU)}); err != nil {
				return nil, err
			}
		}
		if err := saveModel(filepath.Join(cfg.Out, "last.safetensors"), model, map[string]string{"epoch": fmt.Sprint(ep + 1)}); err != nil {
			return nil, err
		}
		// The checkpoint last: a process killed before it resumes from the previous
		// epoch, which training repeats exactly, rewriting best and last the same way.
		if err := saveCheckpoint(ckpt, model, opter, st); err != nil {
			return nil, err
		}
		if err := writeHistory(cfg.Out, st.History); err != nil {
			return nil, err
		}
		if err := PlotCurves(filepath.Join(cfg.Out, "curves.png"), st.History); err != nil {
			return nil, err
		}
		if err := writeClassTable(filepath.Join(cfg.Out, "per_class_iou.md"), classes, sc); err != nil {
			return nil, err
		}
	}
	if len(st.History) == 0 {
		return nil, fmt.Errorf("train: no epoch finished")
	}
	last := st.History[len(st.History)-1]
	res := &Result{
		Val:      Summary{AAcc: last.AAcc, MAcc: last.MAcc, MIoU: last.MIoU, FWIoU: last.FWIoU},
		BestMIoU: st.BestMIoU, Epochs: last.Epoch, TrainSeconds: st.Elapsed,
	}
	if err := writeJSON(filepath.Join(cfg.Out, "metrics.json"), res); err != nil {
		return nil, err
	}
	if err := writeOverlays(filepath.Join(cfg.Out, "overlays"), model, valDS, 8); err != nil {
		return nil, err
	}
	opt.emit(Event{Kind: EventDone, Epoch: last.Epoch, Epochs: st.Epochs, Step: last.Epoch * stepsPerEpoch, StepsPerEpoch: stepsPerEpoch})
	return res, nil
}

// state is the position of a run, saved in checkpoints.
type state struct {
	Epochs   int           `json:"epochs"`    // epochs planned (Config.Epochs, or fewer to fit the time budget)
	Epoch    int           `json:"epoch"`     // epochs finished
	Batch    int           `json:"batch"`     // batches finished in the current epoch
	LossMean float64       `json:"loss_mean"` // mean training loss of the current epoch so far
	LossN    int           `json:"loss_n"`
	Elapsed  float64       `json:"elapsed"` // training seconds so far
	BestMIoU float64       `json:"best_mIoU"`
	History  []EpochRecord `json:"history"`
	Config   *Config       `json:"config,omitempty"` // the run's settings, checked on resume
}

// openData returns the training and validation sets and the class names.
func openData(cfg Config) (train, val data.Dataset, classes []string, err error) {
	sc := data.ShapesConfig{Size: cfg.ImageSize, Train: cfg.TrainN, Val: cfg.ValN, Seed: cfg.DataSeed}
	if train, classes, err = OpenSplit(cfg.Dataset, "train", sc); err != nil {
		return nil, nil, nil, err
	}
	if val, _, err = OpenSplit(cfg.Dataset, "val", sc); err != nil {
		return nil, nil, nil, err
	}
	return train, val, classes, nil
}

// OpenSplit opens a split ("train", "val", …) of dataset — "shapes" (the
// built-in data, generated as shapes says) or a VOC-layout folder — and
// returns it with its class names.
func OpenSplit(dataset, split string, shapes data.ShapesConfig) (data.Dataset, []string, error) {
	if dataset == "shapes" {
		ds, err := data.Shapes(shapes, split)
		if err != nil {
			return nil, nil, err
		}
		return ds, data.ShapesClasses, nil
	}
	ds, err := data.OpenVOC(dataset, split, data.VOCOptions{})
	if err != nil {
		return nil, nil, err
	}
	return ds, ds.Classes(), nil
}

// newOptimizer builds AdamW with no weight decay on biases and norm
// parameters (every tensor of fewer than two dimensions).
func newOptimizer(m *gcn.Model, cfg Config) optim.Optimizer {
	var decay, noDecay []*tensor.Tensor
	for _, p := range nn.Parameters(m) {
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

// schedule is the learning rate per iteration: linear warm-up from 0.1·LR,
// then poly (power 0.9) or cosine decay to 0 at the end of the last epoch.
type schedule struct {
	cfg           Config
	epochs        int // epochs planned
	stepsPerEpoch int
}

func (s schedule) lr(step int) float64 { return s.schedule().LR(s.cfg.LR, step) }

func (s schedule) schedule() optim.Schedule {
	warm := int(s.cfg.WarmupEpochs * float64(s.stepsPerEpoch))
	rest := max(s.epochs*s.stepsPerEpoch-warm, 1)
	var decay optim.Schedule = optim.PolynomialLR{TotalIters: rest, Power: 0.9}
	if s.cfg.Schedule == "cosine" {
		decay = optim.CosineAnnealingLR{TMax: rest}
	}
	if warm == 0 {
		return decay
	}
	return optim.SequentialLR{
		Schedules:  []optim.Schedule{optim.LinearLR{StartFactor: 0.1, EndFactor: 1, TotalIters: warm}, decay},
		Milestones: []int{warm},
	}
}

// Evaluate runs model on every sample of ds in eval mode, without recording
// a graph, and returns the confusion matrix against the masks.
func Evaluate(model *gcn.Model, ds data.Dataset, batch, numClasses int) (*seg.ConfusionMatrix, error) {
	nn.SetTraining(model, false)
	defer nn.SetTraining(model, true)
	restore := noGrad(model)
	defer restore()
	cm := seg.NewConfusionMatrix(numClasses, data.Ignore, false)
	loader := data.NewLoader(ds, data.LoaderConfig{BatchSize: batch, Workers: 1, Transform: evalTransform()})
	for b, err := range loader.Epoch(0) {
		if err != nil {
			return nil, err
		}
		pred := tensor.ArgMax(model.Forward(b.Images), 1, false)
		gt := b.Masks.Data()
		pd := pred.Data()
		g8, p8 := make([]uint8, len(gt)), make([]uint8, len(pd))
		for i := range gt {
			g8[i], p8[i] = uint8(gt[i]), uint8(pd[i])
		}
		cm.Update(g8, p8)
	}
	return cm, nil
}

// noGrad turns off gradient tracking on the model's parameters (so a forward
// pass records no graph) and returns a function that turns it back on. It
// writes nothing when no parameter requires a gradient, so frozen models can
// be used from many goroutines.
func noGrad(m any) func() {
	var changed []*tensor.Tensor
	for _, p := range nn.Parameters(m) {
		if p.RequiresGrad() {
			p.SetRequiresGrad(false)
			changed = append(changed, p)
		}
	}
	return func() {
		for _, p := range changed {
			p.SetRequiresGrad(true)
		}
	}
}

// EvaluateDataset runs a frozen, eval-mode model (as LoadModel returns) on
// every sample of ds, images of any size, on all cores, and returns the
// confusion matrix of its predictions against the masks.
func EvaluateDataset(m *gcn.Model, ds data.Dataset, numClasses int) (*seg.ConfusionMatrix, error) {
	total := seg.NewConfusionMatrix(numClasses, data.Ignore, false)
	workers := min(runtime.GOMAXPROCS(0), ds.Len())
	parts := make([]*seg.ConfusionMatrix, workers)
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		parts[w] = total.NewLike()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= ds.Len() || errs[w] != nil {
					return
				}
				s, err := ds.Get(i)
				if err != nil {
					errs[w] = err
					return
				}
				if s.Mask == nil {
					errs[w] = fmt.Errorf("sample %d (%s) has no label map", i, s.Name)
					return
				}
				parts[w].Update(s.Mask.Pix, Predict(m, s.Image).Pix)
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			return nil, errs[w]
		}
		total.Merge(parts[w])
	}
	return total, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeClassTable writes the per-class scores of the last validation as a
// Markdown table.
func writeClassTable(path string, classes []string, sc seg.Scores) error {
	s := "| class | IoU | Acc | Dice |\n|---|---|---|---|\n"
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "n/a"
		}
		return fmt.Sprintf("%.4f", v)
	}
	for i, c := range classes {
		s += fmt.Sprintf("| %s | %s | %s | %s |\n", c, f(sc.IoU[i]), f(sc.Acc[i]), f(sc.Dice[i]))
	}
	s += fmt.Sprintf("| **mean** | %s | %s | %s |\n", f(sc.MIoU), f(sc.MAcc), f(sc.MDice))
	return writeFileAtomic(path, []byte(s))
}
