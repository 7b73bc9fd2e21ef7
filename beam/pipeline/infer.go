package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // JPEG inputs
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/gcn"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/automask"
	"github.com/fovea-ml/fovea/train"
)

// PredictOptions configure Predict; the flags of `fovea-beam predict`.
type PredictOptions struct {
	// Checkpoint is a GCN model written by fovea train.
	Checkpoint string
	// Input is a file pattern of PNG/JPEG images.
	Input string
	// Out is the folder that receives STEM.png, a palette label map per
	// image, as `fovea predict` writes it.
	Out string
	// DeadLetters and Counts as in SegOptions; Counts gets {"images","dead_letters"}.
	DeadLetters, Counts string
}

// AutoMaskOptions configure AutoMask; the flags of `fovea-beam sam auto`.
type AutoMaskOptions struct {
	// Checkpoint and Config are sam.Load's arguments.
	Checkpoint, Config string
	// Input is a file pattern of PNG/JPEG images.
	Input string
	// Out receives STEM.json per image: the records with compressed COCO
	// RLE segmentations, as `fovea sam auto --format coco` writes them.
	Out string
	// Generator are the automatic mask generator's options (OutputMode is
	// set to COCO RLE).
	Generator automask.Options
	// DeadLetters and Counts as in PredictOptions; Counts also gets "masks".
	DeadLetters, Counts string
}

// InferCounts is the --counts file of the inference pipelines.
type InferCounts struct {
	Images      int64 `json:"images"`
	Masks       int64 `json:"masks,omitempty"`
	DeadLetters int64 `json:"dead_letters"`
}

func init() {
	for _, t := range []any{(*InferCounts)(nil), (*predictFn)(nil), (*autoMaskFn)(nil), (*inferWriteFn)(nil)} {
		beam.RegisterType(reflect.TypeOf(t).Elem())
	}
	register.DoFn4x1[context.Context, fileio.FileMetadata, func(InferCounts), func(DeadLetter), error](&predictFn{})
	register.DoFn4x1[context.Context, fileio.FileMetadata, func(InferCounts), func(DeadLetter), error](&autoMaskFn{})
	register.DoFn4x1[context.Context, []byte, func(*InferCounts) bool, func(*DeadLetter) bool, error](&inferWriteFn{})
	register.Emitter1[InferCounts]()
	register.Iter1[InferCounts]()
	register.Function2x1(sumInferCounts)
}

func sumInferCounts(a, b InferCounts) InferCounts {
	return InferCounts{a.Images + b.Images, a.Masks + b.Masks, a.DeadLetters + b.DeadLetters}
}

// Predict adds GCN batch prediction to s: every image matched by o.Input is
// segmented by the model (loaded once per worker process) and written as
// o.Out/STEM.png; images are spread over the workers, one element each.
func Predict(s beam.Scope, o PredictOptions) {
	s = s.Scope("Predict")
	files := fileio.MatchFiles(s, o.Input, fileio.MatchEmptyDisallow())
	counts, dead := beam.ParDo2(s, &predictFn{Checkpoint: o.Checkpoint, Out: o.Out}, beam.Reshuffle(s, files))
	writeInferOutputs(s, o.DeadLetters, o.Counts, counts, dead)
}

// AutoMask adds SAM's automatic mask generation to s: every image matched
// by o.Input is segmented (the model loaded once per worker process) and
// its records written as o.Out/STEM.json.
func AutoMask(s beam.Scope, o AutoMaskOptions) error {
	s = s.Scope("AutoMask")
	opt := o.Generator
	opt.OutputMode = automask.COCORLE
	opt.Progress, opt.EncodeProgress = nil, nil
	if err := opt.Validate(); err != nil {
		return err
	}
	j, err := json.Marshal(opt)
	if err != nil {
		return err
	}
	files := fileio.MatchFiles(s, o.Input, fileio.MatchEmptyDisallow())
	counts, dead := beam.ParDo2(s, &autoMaskFn{Checkpoint: o.Checkpoint, Config: o.Config, Options: string(j), Out: o.Out}, beam.Reshuffle(s, files))
	writeInferOutputs(s, o.DeadLetters, o.Counts, counts, dead)
	return nil
}

func writeInferOutputs(s beam.Scope, deadPath, countsPath string, counts, dead beam.PCollection) {
	total := beam.Combine(s, sumInferCounts, counts)
	beam.ParDo0(s, &inferWriteFn{DeadLetters: deadPath, Counts: countsPath}, beam.Impulse(s), beam.SideInput{Input: total}, beam.SideInput{Input: dead})
}

// Models are loaded once per worker process and shared by every DoFn
// instance (bundles run concurrently): fovea's loaded models are frozen and
// safe for concurrent inference.
var (
	modelMu    sync.Mutex
	gcnModels  = map[string]*sharedModel[*gcn.Model]{}
	samModels  = map[string]*sharedModel[*sam.Model]{}
	modelLoads = map[string]int{} // loads per checkpoint, for the tests
)

type sharedModel[M any] struct {
	once sync.Once
	m    M
	err  error
}

func loadShared[M any](ctx context.Context, cache map[string]*sharedModel[M], key, path string, load func(local string) (M, error)) (M, error) {
	modelMu.Lock()
	sm := cache[key]
	if sm == nil {
		sm = &sharedModel[M]{}
		cache[key] = sm
	}
	modelMu.Unlock()
	sm.once.Do(func() {
		local, cleanup, err := localCopy(ctx, path)
		if err != nil {
			sm.err = err
			return
		}
		defer cleanup()
		sm.m, sm.err = load(local)
		modelMu.Lock()
		modelLoads[key]++
		modelMu.Unlock()
	})
	return sm.m, sm.err
}

// localCopy returns a local path for p: p itself, or a temporary copy of a
// remote object (the model loaders read local files).
func localCopy(ctx context.Context, p string) (string, func(), error) {
	if isLocal(p) {
		return p, func() {}, nil
	}
	b, err := readFile(ctx, p)
	if err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp("", "fovea-beam-*"+filepath.Ext(p))
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		os.Remove(f.Name())
		return "", nil, err
	}
	return f.Name(), func() { os.Remove(f.Name()) }, nil
}

// predictFn segments one image with the GCN model.
type predictFn struct {
	Checkpoint, Out string

	model *gcn.Model
}

func (f *predictFn) Setup(ctx context.Context) error {
	m, err := loadShared(ctx, gcnModels, f.Checkpoint, f.Checkpoint, train.LoadModel)
	f.model = m
	return err
}

// fastPNG is the fovea command's label-map encoder.
var fastPNG = png.Encoder{CompressionLevel: png.BestSpeed}

func (f *predictFn) ProcessElement(ctx context.Context, md fileio.FileMetadata, count func(InferCounts), dead func(DeadLetter)) error {
	b, err := readFile(ctx, md.Path)
	if err != nil {
		dead(DeadLetter{md.Path, err.Error()})
		return nil
	}
	img, err := decodeImageSafe(b)
	if err != nil {
		dead(DeadLetter{md.Path, "not a readable PNG or JPEG image: " + err.Error()})
		return nil
	}
	mask := train.Predict(f.model, img)
	var buf bytes.Buffer
	if err := fastPNG.Encode(&buf, mask.ToGoImage()); err != nil {
		return err
	}
	if err := writeFile(ctx, JoinPath(f.Out, stem(md.Path)+".png"), buf.Bytes()); err != nil {
		return err // an unwritable output is the run's problem, not the input's
	}
	count(InferCounts{Images: 1})
	return nil
}

func decodeImageSafe(b []byte) (img *data.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("corrupt image (%v)", r)
		}
	}()
	return data.DecodeImage(bytes.NewReader(b))
}

// autoMaskFn runs SAM's automatic mask generator on one image.
type autoMaskFn struct {
	Checkpoint, Config, Options, Out string

	gen *automask.Generator
}

func (f *autoMaskFn) Setup(ctx context.Context) error {
	m, err := loadShared(ctx, samModels, f.Checkpoint+"\x00"+f.Config, f.Checkpoint, func(local string) (*sam.Model, error) {
		// as `fovea sam auto`: collect at 25% heap growth (encoder activations)
		debug.SetGCPercent(25)
		cfg, cleanup, err := localCopy(ctx, f.Config)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		return sam.Load(local, cfg)
	})
	if err != nil {
		return err
	}
	var opt automask.Options
	if err := json.Unmarshal([]byte(f.Options), &opt); err != nil {
		return err
	}
	f.gen, err = automask.New(m, opt)
	return err
}

func (f *autoMaskFn) ProcessElement(ctx context.Context, md fileio.FileMetadata, count func(InferCounts), dead func(DeadLetter)) error {
	b, err := readFile(ctx, md.Path)
	if err != nil {
		dead(DeadLetter{md.Path, err.Error()})
		return nil
	}
	pix, h, w, err := decodeRGB(b)
	if err != nil {
		dead(DeadLetter{md.Path, "not a readable PNG or JPEG image: " + err.Error()})
		return nil
	}
	recs, err := f.gen.Generate(pix, h, w)
	if err != nil {
		dead(DeadLetter{md.Path, err.Error()})
		return nil
	}
	if recs == nil {
		recs = []automask.Record{}
	}
	j, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	if err := writeFile(ctx, JoinPath(f.Out, stem(md.Path)+".json"), append(j, '\n')); err != nil {
		return err
	}
	count(InferCounts{Images: 1, Masks: int64(len(recs))})
	return nil
}

// decodeRGB decodes a PNG or JPEG as 8-bit RGB (h, w, 3), as `fovea sam` reads images.
func decodeRGB(b []byte) (pix []uint8, h, w int, err error) {
	defer func() {
		if r := recover(); r != nil {
			pix, err = nil, fmt.Errorf("corrupt image (%v)", r)
		}
	}()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, err
	}
	pix, h, w, c := augment.GoImageToHWC(img)
	if c == 1 {
		rgb := make([]uint8, 0, h*w*3)
		for _, v := range pix {
			rgb = append(rgb, v, v, v)
		}
		pix = rgb
	}
	return pix, h, w, nil
}

// inferWriteFn writes the dead letters and the counts of an inference run.
type inferWriteFn struct {
	DeadLetters, Counts string
}

func (f *inferWriteFn) ProcessElement(ctx context.Context, _ []byte, totals func(*InferCounts) bool, deads func(*DeadLetter) bool) error {
	var c InferCounts
	for _, x := range collect(totals) {
		c = sumInferCounts(c, x)
	}
	dls := collect(deads)
	c.DeadLetters = int64(len(dls))
	if f.DeadLetters != "" {
		if err := writeFile(ctx, f.DeadLetters, deadLetterLines(dls)); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	if f.Counts != "" {
		j, _ := indentJSON(c)
		if err := writeFile(ctx, f.Counts, j); err != nil {
			return fmt.Errorf("--counts: %w", err)
		}
	}
	return nil
}
