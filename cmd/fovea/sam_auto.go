package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/automask"
)

func init() { samCmd.AddCommand(samAutoCmd()) }

// samAutoFormats maps --format to the generator's output mode.
var samAutoFormats = map[string]automask.OutputMode{
	"png": automask.BinaryMask, "rle": automask.UncompressedRLE, "coco": automask.COCORLE,
}

func samAutoCmd() *cobra.Command {
	var mf samModelFlags
	var imagePath, out, format, cocoGT string
	var seed uint64
	opt := automask.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "auto --checkpoint CKPT --image IMG|DIR --out DIR [options]",
		Short: "Segment everything: SAM's automatic mask generator over a grid of point prompts",
		Long: `Segment every object of an image (or of every PNG and JPEG in a folder) as
segment-anything's SamAutomaticMaskGenerator does: a grid of point prompts over the image
(and over crops with --crop-n-layers), masks kept by predicted IoU and stability, duplicates
removed by box NMS. The options are the generator's, with its defaults (chosen for vit_h).

For each image NAME it writes to --out:
  NAME.json          the records: segmentation, area, bbox (x, y, w, h), predicted_iou,
                     point_coords, stability_score, crop_box
  NAME_overlay.png   all masks tinted over the image, largest first, colours from --seed
  NAME/K.png         with --format png (the default), mask K (white inside); the record's
                     segmentation is this file's path relative to --out
With --format rle the segmentations are COCO's uncompressed RLE, with --format coco its
compressed RLE, and coco_results.json (image_id, category_id 1, segmentation, score =
predicted_iou) for "fovea eval coco --iou-type segm"; image ids come from --coco-gt (the
images' file_name) or number the images 1, 2, … in name order. See docs/sam.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if imagePath == "" || out == "" {
				return fmt.Errorf("sam auto needs --image and --out")
			}
			mode, ok := samAutoFormats[format]
			if !ok {
				return fmt.Errorf("--format %q: want png, rle or coco", format)
			}
			if cocoGT != "" && mode != automask.COCORLE {
				return fmt.Errorf("--coco-gt needs --format coco")
			}
			opt.OutputMode = mode
			if err := opt.Validate(); err != nil {
				return err
			}
			images, err := samAutoImages(imagePath)
			if err != nil {
				return err
			}
			var ids map[string]int64
			if cocoGT != "" {
				if ids, err = cocoImageIDs(cocoGT); err != nil {
					return err
				}
			}
			log := cmd.ErrOrStderr()
			m, err := mf.load(log)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			var results []cocoResult
			var imgBar *progressbar.ProgressBar
			if len(images) > 1 {
				imgBar = newSAMBar(log, len(images), "images")
			}
			total := 0
			for i, path := range images {
				stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
				n, res, err := samAutoImage(m, opt, path, stem, out, seed, log, fmt.Sprintf("[%d/%d] %s", i+1, len(images), filepath.Base(path)))
				if err != nil {
					return err
				}
				if mode == automask.COCORLE {
					id := int64(i + 1)
					if ids != nil {
						if id, ok = ids[filepath.Base(path)]; !ok {
							return fmt.Errorf("%s: no image with file_name %q", cocoGT, filepath.Base(path))
						}
					}
					for _, r := range res {
						results = append(results, cocoResult{ImageID: id, CategoryID: 1, Segmentation: r.Segmentation, Score: r.PredictedIoU})
					}
				}
				total += n
				if imgBar != nil {
					imgBar.Add(1)
				}
			}
			if imgBar != nil {
				imgBar.Finish()
			}
			if mode == automask.COCORLE {
				if results == nil {
					results = []cocoResult{}
				}
				if err := writeJSONFile(filepath.Join(out, "coco_results.json"), results); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d masks of %d image(s) to %s\n", total, len(images), out)
			return nil
		},
	}
	mf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&imagePath, "image", "", "a PNG or JPEG image, or a folder of them")
	f.StringVar(&out, "out", "", "output folder")
	f.StringVar(&format, "format", "png", "masks as png files, rle (uncompressed COCO RLE in the JSON) or coco (compressed RLE, and coco_results.json)")
	f.StringVar(&cocoGT, "coco-gt", "", "with --format coco: a COCO annotation file whose images' file_name give the image ids")
	f.Uint64Var(&seed, "seed", 1, "seed of the overlay colours")
	f.IntVar(&opt.PointsPerSide, "points-per-side", opt.PointsPerSide, "points along each side of the grid of point prompts")
	f.IntVar(&opt.PointsPerBatch, "points-per-batch", opt.PointsPerBatch, "points processed as one batch (one progress step)")
	f.Float64Var(&opt.PredIoUThresh, "pred-iou-thresh", opt.PredIoUThresh, "keep masks whose predicted IoU is above this (0: all)")
	f.Float64Var(&opt.StabilityScoreThresh, "stability-score-thresh", opt.StabilityScoreThresh, "keep masks whose stability score is at least this (0: all)")
	f.Float64Var(&opt.StabilityScoreOffset, "stability-score-offset", opt.StabilityScoreOffset, "logit offset of the stability score's two cutoffs")
	f.Float64Var(&opt.BoxNMSThresh, "box-nms-thresh", opt.BoxNMSThresh, "box IoU above which NMS drops duplicates within a crop")
	f.IntVar(&opt.CropNLayers, "crop-n-layers", opt.CropNLayers, "layers of crops (layer i has 2^i×2^i crops) prompted again")
	f.Float64Var(&opt.CropNMSThresh, "crop-nms-thresh", opt.CropNMSThresh, "box IoU above which NMS drops duplicates across crops")
	f.Float64Var(&opt.CropOverlapRatio, "crop-overlap-ratio", opt.CropOverlapRatio, "overlap of first-layer crops, as a fraction of the shorter image side")
	f.IntVar(&opt.CropNPointsDownscaleFactor, "crop-n-points-downscale-factor", opt.CropNPointsDownscaleFactor, "points per side divided by this per crop layer")
	f.IntVar(&opt.MinMaskRegionArea, "min-mask-region-area", opt.MinMaskRegionArea, "fill holes and remove islands smaller than this many pixels (0: off)")
	return cmd
}

// samAutoImages returns path, or the PNG and JPEG files in folder path in name order.
func samAutoImages(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	stems := map[string]string{}
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".png" && ext != ".jpg" && ext != ".jpeg") {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		if other, ok := stems[stem]; ok {
			return nil, fmt.Errorf("%s: %s and %s would write the same %s.json", path, other, e.Name(), stem)
		}
		stems[stem] = e.Name()
		out = append(out, filepath.Join(path, e.Name()))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PNG or JPEG images", path)
	}
	return out, nil
}

// cocoImageIDs maps the file names of a COCO annotation file's images to their ids.
func cocoImageIDs(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var gt struct {
		Images []struct {
			ID       int64  `json:"id"`
			FileName string `json:"file_name"`
		} `json:"images"`
	}
	if err := json.Unmarshal(b, &gt); err != nil {
		return nil, fmt.Errorf("%s: not a COCO annotation file: %w", path, err)
	}
	ids := map[string]int64{}
	for _, im := range gt.Images {
		ids[filepath.Base(im.FileName)] = im.ID
	}
	return ids, nil
}

type cocoResult struct {
	ImageID      int64                 `json:"image_id"`
	CategoryID   int64                 `json:"category_id"`
	Segmentation automask.Segmentation `json:"segmentation"`
	Score        float64               `json:"score"`
}

// samPNGRecord is a record whose segmentation is a PNG file.
type samPNGRecord struct {
	Segmentation   string       `json:"segmentation"`
	Area           int          `json:"area"`
	BBox           [4]int       `json:"bbox"`
	PredictedIoU   float64      `json:"predicted_iou"`
	PointCoords    [][2]float64 `json:"point_coords"`
	StabilityScore *float64     `json:"stability_score"`
	CropBox        [4]int       `json:"crop_box"`
}

func newSAMBar(w io.Writer, n int, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// samAutoImage segments one image and writes its files; it returns the number of masks
// and the records.
func samAutoImage(m *sam.Model, opt automask.Options, path, stem, out string, seed uint64, log io.Writer, desc string) (int, []automask.Record, error) {
	pix, h, w, err := readRGB(path)
	if err != nil {
		return 0, nil, err
	}
	var bar *progressbar.ProgressBar
	opt.EncodeProgress = func(crop, crops, done, total int) {
		bar.Describe(fmt.Sprintf("%s: encoding crop %d/%d (%d/%d)", desc, crop+1, crops, done, total))
	}
	opt.Progress = func(done, total int) {
		bar.Describe(desc + ": point batches")
		bar.Set(done)
	}
	g, err := automask.New(m, opt)
	if err != nil {
		return 0, nil, err
	}
	bar = newSAMBar(log, g.NumBatches(h, w), desc)
	recs, err := g.Generate(pix, h, w)
	bar.Finish()
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := writeOverlay(filepath.Join(out, stem+"_overlay.png"), pix, h, w, recs, seed); err != nil {
		return 0, nil, err
	}
	jsonPath := filepath.Join(out, stem+".json")
	if opt.OutputMode != automask.BinaryMask {
		if recs == nil {
			recs = []automask.Record{}
		}
		return len(recs), recs, writeJSONFile(jsonPath, recs)
	}
	dir := filepath.Join(out, stem)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, err
	}
	pngRecs := make([]samPNGRecord, len(recs))
	for i, r := range recs {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for j, v := range r.Segmentation.Mask {
			g.Pix[j] = 255 * v
		}
		name := fmt.Sprintf("%d.png", i)
		if err := writePNGFile(filepath.Join(dir, name), g); err != nil {
			return 0, nil, err
		}
		pr := samPNGRecord{Segmentation: stem + "/" + name, Area: r.Area, BBox: r.BBox, PredictedIoU: r.PredictedIoU,
			PointCoords: r.PointCoords, CropBox: r.CropBox}
		if s := r.StabilityScore; s == s {
			pr.StabilityScore = &s
		}
		pngRecs[i] = pr
	}
	return len(recs), recs, writeJSONFile(jsonPath, pngRecs)
}

// writeOverlay tints every mask over the image, largest first so that smaller masks stay
// visible, each in a random colour.
func writeOverlay(path string, pix []uint8, h, w int, recs []automask.Record, seed uint64) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h*w; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = pix[3*i], pix[3*i+1], pix[3*i+2], 255
	}
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return recs[b].Area - recs[a].Area })
	rng := rand.New(rand.NewPCG(seed, 0x5a3))
	for _, i := range order {
		c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		r := recs[i].Segmentation.RLE
		// Runs are column-major: pixel k is (x, y) = (k / H, k % H).
		k := 0
		for j, n := range r.Counts {
			if j%2 == 1 {
				for p := k; p < k+int(n); p++ {
					o := img.Pix[4*((p%h)*w+p/h):]
					o[0] = uint8((int(o[0])*45 + int(c.R)*55) / 100)
					o[1] = uint8((int(o[1])*45 + int(c.G)*55) / 100)
					o[2] = uint8((int(o[2])*45 + int(c.B)*55) / 100)
				}
			}
			k += int(n)
		}
	}
	return writePNGFile(path, img)
}

func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}
