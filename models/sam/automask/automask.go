// Package automask is Segment Anything's automatic mask generator ("segment everything",
// segment-anything's SamAutomaticMaskGenerator): it prompts a SAM model with a grid of
// points over the image (and optionally over crops of it), keeps the masks whose
// predicted IoU and stability are high enough, removes duplicates with box NMS, and
// returns one record per mask, with the fields, order and numbers of the original.
//
//	m, err := sam.Load("sam_vit_h_4b8939.pth", "")
//	g, err := automask.New(m, automask.DefaultOptions())
//	records, err := g.Generate(pix, h, w) // 8-bit RGB (h, w, 3)
//
// The helpers of the reference's utils/amg.py are here too (BuildPointGrid,
// GenerateCropBoxes, StabilityScore, BatchedNMS, RemoveSmallRegions, …), each computed
// with the reference's arithmetic so that results match it exactly; see docs/sam.md.
package automask

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/metrics/rle"
)

// OutputMode is the form of Record.Segmentation.
type OutputMode string

const (
	// BinaryMask gives each mask as (H, W) 0/1 bytes (Segmentation.Mask).
	BinaryMask OutputMode = "binary_mask"
	// UncompressedRLE gives each mask as COCO run lengths, {"size": [H, W], "counts": [...]}.
	UncompressedRLE OutputMode = "uncompressed_rle"
	// COCORLE gives each mask as COCO's compressed RLE, {"size": [H, W], "counts": "..."}.
	COCORLE OutputMode = "coco_rle"
)

// Options are SamAutomaticMaskGenerator's arguments, with its names in JSON.
type Options struct {
	// PointsPerSide is the number of points along each side of the grid of point prompts
	// (PointsPerSide² points); 0 when PointGrids are given instead.
	PointsPerSide int `json:"points_per_side"`
	// PointsPerBatch is the number of points processed as one batch (one Progress step);
	// the mask decoder runs them a few at a time, which gives the same results faster.
	PointsPerBatch int `json:"points_per_batch"`
	// PredIoUThresh keeps masks whose predicted IoU is above it (0: no filter).
	PredIoUThresh float64 `json:"pred_iou_thresh"`
	// StabilityScoreThresh keeps masks whose stability score is at least it (0: no filter).
	StabilityScoreThresh float64 `json:"stability_score_thresh"`
	// StabilityScoreOffset is how far the logit cutoff moves, up and down, for the
	// stability score.
	StabilityScoreOffset float64 `json:"stability_score_offset"`
	// BoxNMSThresh is the box IoU above which NMS drops the lower-scored of two masks of
	// one crop.
	BoxNMSThresh float64 `json:"box_nms_thresh"`
	// CropNLayers is the number of layers of crops: layer i has 2^i × 2^i crops, each
	// prompted again with its own grid (0: the whole image only).
	CropNLayers int `json:"crop_n_layers"`
	// CropNMSThresh is the box IoU above which NMS drops duplicates across crops.
	CropNMSThresh float64 `json:"crop_nms_thresh"`
	// CropOverlapRatio is the overlap of neighbouring crops of the first layer, as a
	// fraction of the shorter image side (later layers scale it down).
	CropOverlapRatio float64 `json:"crop_overlap_ratio"`
	// CropNPointsDownscaleFactor divides the points per side by this factor per layer.
	CropNPointsDownscaleFactor int `json:"crop_n_points_downscale_factor"`
	// PointGrids are explicit grids of points in [0, 1]², one per crop layer (layer i
	// uses PointGrids[i]), instead of PointsPerSide.
	PointGrids [][][2]float64 `json:"point_grids,omitempty"`
	// MinMaskRegionArea, if positive, fills holes and removes islands smaller than it
	// from every mask, then runs NMS again.
	MinMaskRegionArea int `json:"min_mask_region_area"`
	// OutputMode is the form of the segmentations.
	OutputMode OutputMode `json:"output_mode"`

	// Progress, if not nil, is called after each batch of points with the number of
	// batches done and the total over all crops.
	Progress func(done, total int) `json:"-"`
	// EncodeProgress, if not nil, is called as the image encoder runs on crop crop
	// (0-based) of crops: done of total encoder stages.
	EncodeProgress func(crop, crops, done, total int) `json:"-"`
}

// DefaultOptions are SamAutomaticMaskGenerator's defaults (chosen for ViT-H).
func DefaultOptions() Options {
	return Options{
		PointsPerSide:              32,
		PointsPerBatch:             64,
		PredIoUThresh:              0.88,
		StabilityScoreThresh:       0.95,
		StabilityScoreOffset:       1,
		BoxNMSThresh:               0.7,
		CropNLayers:                0,
		CropNMSThresh:              0.7,
		CropOverlapRatio:           512.0 / 1500,
		CropNPointsDownscaleFactor: 1,
		MinMaskRegionArea:          0,
		OutputMode:                 BinaryMask,
	}
}

// Validate reports the first option that cannot run.
func (o Options) Validate() error {
	switch {
	case (o.PointsPerSide > 0) == (o.PointGrids != nil):
		return errors.New("automask: give exactly one of points_per_side (> 0) and point_grids")
	case o.PointsPerSide < 0:
		return fmt.Errorf("automask: points_per_side %d, want at least 1", o.PointsPerSide)
	case o.PointsPerBatch < 1:
		return fmt.Errorf("automask: points_per_batch %d, want at least 1", o.PointsPerBatch)
	case o.CropNLayers < 0:
		return fmt.Errorf("automask: crop_n_layers %d, want 0 or more", o.CropNLayers)
	case o.CropNPointsDownscaleFactor < 1:
		return fmt.Errorf("automask: crop_n_points_downscale_factor %d, want at least 1", o.CropNPointsDownscaleFactor)
	case !(o.CropOverlapRatio >= 0) || math.IsInf(o.CropOverlapRatio, 0):
		return fmt.Errorf("automask: crop_overlap_ratio %v, want a finite number ≥ 0", o.CropOverlapRatio)
	case o.MinMaskRegionArea < 0:
		return fmt.Errorf("automask: min_mask_region_area %d, want 0 or more", o.MinMaskRegionArea)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"pred_iou_thresh", o.PredIoUThresh}, {"stability_score_thresh", o.StabilityScoreThresh},
		{"stability_score_offset", o.StabilityScoreOffset}, {"box_nms_thresh", o.BoxNMSThresh}, {"crop_nms_thresh", o.CropNMSThresh}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("automask: %s %v, want a finite number", f.name, f.v)
		}
	}
	switch o.OutputMode {
	case BinaryMask, UncompressedRLE, COCORLE:
	default:
		return fmt.Errorf("automask: unknown output_mode %q (want binary_mask, uncompressed_rle or coco_rle)", o.OutputMode)
	}
	if o.PointGrids != nil {
		if len(o.PointGrids) < o.CropNLayers+1 {
			return fmt.Errorf("automask: %d point grids for %d crop layers, want one per layer (%d)", len(o.PointGrids), o.CropNLayers, o.CropNLayers+1)
		}
		for i, g := range o.PointGrids {
			if len(g) == 0 {
				return fmt.Errorf("automask: point grid %d is empty", i)
			}
		}
	}
	if o.PointsPerSide > 0 {
		for i, g := range BuildAllLayerPointGrids(o.PointsPerSide, o.CropNLayers, o.CropNPointsDownscaleFactor) {
			if len(g) == 0 {
				return fmt.Errorf("automask: crop layer %d gets no points (points_per_side %d / crop_n_points_downscale_factor %d^%d < 1)",
					i, o.PointsPerSide, o.CropNPointsDownscaleFactor, i)
			}
		}
	}
	return nil
}

// grids returns the point grid of each crop layer.
func (o Options) grids() [][][2]float64 {
	if o.PointGrids != nil {
		return o.PointGrids
	}
	return BuildAllLayerPointGrids(o.PointsPerSide, o.CropNLayers, o.CropNPointsDownscaleFactor)
}

// Record is one mask, with the fields of the reference's records (the same JSON).
type Record struct {
	Segmentation Segmentation `json:"segmentation"`
	// Area is the number of pixels in the mask.
	Area int `json:"area"`
	// BBox is the box around the mask, x, y, w, h, with w and h the differences of the
	// last and first column and row inside (as the reference: one less than the extent).
	BBox [4]int `json:"bbox"`
	// PredictedIoU is the model's estimate of the mask's quality (a float32 value).
	PredictedIoU float64 `json:"predicted_iou"`
	// PointCoords is the point prompt that gave the mask, in image pixels.
	PointCoords [][2]float64 `json:"point_coords"`
	// StabilityScore is the IoU of the mask thresholded at ±StabilityScoreOffset (a
	// float32 value; NaN, written as null, for a mask with no logit above −offset).
	StabilityScore float64 `json:"stability_score"`
	// CropBox is the crop the mask was found in, x, y, w, h.
	CropBox [4]int `json:"crop_box"`
}

// MarshalJSON writes the record as the reference's JSON (its field order), with a NaN
// stability score as null.
func (r Record) MarshalJSON() ([]byte, error) {
	out := struct {
		Segmentation   Segmentation `json:"segmentation"`
		Area           int          `json:"area"`
		BBox           [4]int       `json:"bbox"`
		PredictedIoU   float64      `json:"predicted_iou"`
		PointCoords    [][2]float64 `json:"point_coords"`
		StabilityScore *float64     `json:"stability_score"`
		CropBox        [4]int       `json:"crop_box"`
	}{r.Segmentation, r.Area, r.BBox, r.PredictedIoU, r.PointCoords, nil, r.CropBox}
	if !math.IsNaN(r.StabilityScore) {
		out.StabilityScore = &r.StabilityScore
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a record, a null stability score as NaN.
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	var in struct {
		plain
		StabilityScore *float64 `json:"stability_score"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*r = Record(in.plain)
	r.StabilityScore = math.NaN()
	if in.StabilityScore != nil {
		r.StabilityScore = *in.StabilityScore
	}
	return nil
}

// Segmentation is one mask. RLE is always set; Mask only in BinaryMask mode. Mode decides
// the JSON form: {"size": [H, W], "counts": [runs]} (uncompressed_rle), {"size": [H, W],
// "counts": "string"} (coco_rle) or rows of true/false (binary_mask, as NumPy's tolist).
type Segmentation struct {
	RLE  rle.RLE    // the uncompressed RLE (column-major counts)
	Mask []uint8    // (H, W) row-major 0/1, in BinaryMask mode
	Mode OutputMode // how it is written as JSON
}

// Counts returns the compressed COCO string of the mask (coco_encode_rle).
func (s Segmentation) Counts() string { return s.RLE.String() }

// MarshalJSON writes the segmentation in its mode's form.
func (s Segmentation) MarshalJSON() ([]byte, error) {
	size := [2]int{s.RLE.H, s.RLE.W}
	switch s.Mode {
	case COCORLE:
		return json.Marshal(struct {
			Size   [2]int `json:"size"`
			Counts string `json:"counts"`
		}{size, s.RLE.String()})
	case BinaryMask:
		m := s.Mask
		if m == nil {
			m = s.RLE.Decode()
		}
		b := make([]byte, 0, 2+len(m)*6)
		b = append(b, '[')
		for y := 0; y < s.RLE.H; y++ {
			if y > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for x := 0; x < s.RLE.W; x++ {
				if x > 0 {
					b = append(b, ',')
				}
				if m[y*s.RLE.W+x] != 0 {
					b = append(b, "true"...)
				} else {
					b = append(b, "false"...)
				}
			}
			b = append(b, ']')
		}
		return append(b, ']'), nil
	default:
		counts := s.RLE.Counts
		if counts == nil {
			counts = []uint32{}
		}
		return json.Marshal(struct {
			Size   [2]int   `json:"size"`
			Counts []uint32 `json:"counts"`
		}{size, counts})
	}
}

// UnmarshalJSON reads any of the three forms.
func (s *Segmentation) UnmarshalJSON(b []byte) error {
	var rows [][]bool
	if err := json.Unmarshal(b, &rows); err == nil {
		h, w := len(rows), 0
		if h > 0 {
			w = len(rows[0])
		}
		m := make([]uint8, h*w)
		for y, r := range rows {
			if len(r) != w {
				return fmt.Errorf("automask: binary mask row %d has %d values, row 0 has %d", y, len(r), w)
			}
			for x, v := range r {
				if v {
					m[y*w+x] = 1
				}
			}
		}
		*s = Segmentation{RLE: rle.Encode(m, h, w), Mask: m, Mode: BinaryMask}
		return nil
	}
	var obj struct {
		Size   [2]int          `json:"size"`
		Counts json.RawMessage `json:"counts"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("automask: segmentation is neither an RLE nor a binary mask: %w", err)
	}
	h, w := obj.Size[0], obj.Size[1]
	var str string
	if err := json.Unmarshal(obj.Counts, &str); err == nil {
		r, err := rle.FromString(str, h, w)
		if err != nil {
			return fmt.Errorf("automask: segmentation counts: %w", err)
		}
		*s = Segmentation{RLE: r, Mode: COCORLE}
		return nil
	}
	var counts []uint32
	if err := json.Unmarshal(obj.Counts, &counts); err != nil {
		return fmt.Errorf("automask: segmentation counts are neither a string nor a list of counts: %w", err)
	}
	r := rle.RLE{H: h, W: w, Counts: counts}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("automask: segmentation: %w", err)
	}
	*s = Segmentation{RLE: r, Mode: UncompressedRLE}
	return nil
}
