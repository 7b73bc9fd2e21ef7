package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/fovea-ml/fovea/metrics/rle"
)

// cocoFile is the part of a COCO instances JSON that fovea reads and writes.
type cocoFile struct {
	Info        *cocoInfo        `json:"info,omitempty"`
	Images      []cocoImage      `json:"images"`
	Annotations []cocoAnnotation `json:"annotations"`
	Categories  []cocoCategory   `json:"categories"`
}

type cocoInfo struct {
	Description string `json:"description"`
}

type cocoImage struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type cocoAnnotation struct {
	ID           int64           `json:"id"`
	ImageID      int64           `json:"image_id"`
	CategoryID   int64           `json:"category_id"`
	BBox         []float64       `json:"bbox"`
	Area         float64         `json:"area"`
	IsCrowd      int             `json:"iscrowd"`
	Segmentation json.RawMessage `json:"segmentation,omitempty"`
}

type cocoCategory struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Supercategory string `json:"supercategory,omitempty"`
}

// cocoRLE is a COCO RLE segmentation; Counts is a compressed string or a list.
type cocoRLE struct {
	Size   []int           `json:"size"`
	Counts json.RawMessage `json:"counts"`
}

// COCOOptions configures OpenCOCO.
type COCOOptions struct {
	// Masks makes Get build a semantic label map from the annotations'
	// segmentations (polygons, compressed or uncompressed RLE). A pixel
	// covered by exactly one object gets that object's class; a pixel covered
	// by objects of different classes, or by a crowd region, gets Ignore, as
	// torchvision's segmentation references do.
	Masks bool
	// SkipCrowd drops iscrowd boxes instead of returning them with
	// Box.Difficult set.
	SkipCrowd bool
}

// COCODataset is a dataset described by a COCO instances JSON: images in one
// folder, objects with boxes and segmentations. Category ids are mapped to
// contiguous class indices 1..K in increasing id order (0 is background); see
// Classes and CategoryID. Images are read on each Get; it is safe for
// concurrent use.
type COCODataset struct {
	annPath  string
	imageDir string
	opts     COCOOptions
	images   []cocoImage
	anns     [][]cocoAnnotation // per image, in file order
	catIDs   []int64            // class index k-1 -> category id
	classOf  map[int64]int
	classes  []string
}

// OpenCOCO reads the instances JSON at annPath; image file names in it are
// relative to imageDir. Images are ordered by id. Errors name the file and
// the field.
func OpenCOCO(annPath, imageDir string, opts COCOOptions) (*COCODataset, error) {
	b, err := os.ReadFile(annPath)
	if err != nil {
		return nil, fmt.Errorf("data: COCO annotations: %w", err)
	}
	var f cocoFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("data: COCO annotations %s: %w", annPath, err)
	}
	d := &COCODataset{annPath: annPath, imageDir: imageDir, opts: opts, classOf: map[int64]int{}}
	cats := append([]cocoCategory(nil), f.Categories...)
	sort.Slice(cats, func(i, j int) bool { return cats[i].ID < cats[j].ID })
	if len(cats) > 254 {
		return nil, fmt.Errorf("data: COCO annotations %s: %d categories, at most 254 fit a label map", annPath, len(cats))
	}
	d.classes = []string{"background"}
	for _, c := range cats {
		if _, dup := d.classOf[c.ID]; dup {
			return nil, fmt.Errorf("data: COCO annotations %s: categories: id %d appears twice", annPath, c.ID)
		}
		d.classOf[c.ID] = len(d.classes)
		d.catIDs = append(d.catIDs, c.ID)
		d.classes = append(d.classes, c.Name)
	}
	d.images = append([]cocoImage(nil), f.Images...)
	sort.Slice(d.images, func(i, j int) bool { return d.images[i].ID < d.images[j].ID })
	index := make(map[int64]int, len(d.images))
	for i, im := range d.images {
		if _, dup := index[im.ID]; dup {
			return nil, fmt.Errorf("data: COCO annotations %s: images: id %d appears twice", annPath, im.ID)
		}
		if im.Width <= 0 || im.Height <= 0 {
			return nil, fmt.Errorf("data: COCO annotations %s: image %d: width and height must be positive, got %d×%d", annPath, im.ID, im.Width, im.Height)
		}
		if err := CheckSize(im.Width, im.Height); err != nil {
			return nil, fmt.Errorf("data: COCO annotations %s: image %d: %w", annPath, im.ID, err)
		}
		index[im.ID] = i
	}
	d.anns = make([][]cocoAnnotation, len(d.images))
	for k, a := range f.Annotations {
		i, ok := index[a.ImageID]
		if !ok {
			return nil, fmt.Errorf("data: COCO annotations %s: annotation %d (id %d): image_id %d is not in images", annPath, k, a.ID, a.ImageID)
		}
		if _, ok := d.classOf[a.CategoryID]; !ok {
			return nil, fmt.Errorf("data: COCO annotations %s: annotation %d (id %d): category_id %d is not in categories", annPath, k, a.ID, a.CategoryID)
		}
		if len(a.BBox) != 4 {
			return nil, fmt.Errorf("data: COCO annotations %s: annotation %d (id %d): bbox has %d numbers, want 4 [x,y,width,height]", annPath, k, a.ID, len(a.BBox))
		}
		if err := checkCOCOBox(a.BBox); err != nil {
			return nil, fmt.Errorf("data: COCO annotations %s: annotation %d (id %d): %w", annPath, k, a.ID, err)
		}
		d.anns[i] = append(d.anns[i], a)
	}
	return d, nil
}

// Len returns the number of images.
func (d *COCODataset) Len() int { return len(d.images) }

// Classes returns the class names by index: "background", then the
// categories in increasing id order.
func (d *COCODataset) Classes() []string { return d.classes }

// CategoryID returns the COCO category id of class index k (1..K).
func (d *COCODataset) CategoryID(k int) int64 { return d.catIDs[k-1] }

// ImageID returns the COCO image id of sample i.
func (d *COCODataset) ImageID(i int) int64 { return d.images[i].ID }

// Get reads image i (as RGB) with its boxes and, with Masks set, its label
// map. The image file's size must match the JSON's width and height.
func (d *COCODataset) Get(i int) (Sample, error) {
	if i < 0 || i >= len(d.images) {
		return Sample{}, fmt.Errorf("data: COCO %s: index %d out of range [0,%d)", d.annPath, i, len(d.images))
	}
	im := d.images[i]
	path := filepath.Join(d.imageDir, im.FileName)
	s := Sample{Name: trimExt(im.FileName)}
	img, err := ReadImage(path)
	if err != nil {
		return s, err
	}
	if img.H != im.Height || img.W != im.Width {
		return s, fmt.Errorf("data: image %s is %d×%d but %s says %d×%d (image id %d)", path, img.W, img.H, d.annPath, im.Width, im.Height, im.ID)
	}
	s.Image = img.ToRGB()
	s.Boxes = []Box{}
	for _, a := range d.anns[i] {
		if a.IsCrowd != 0 && d.opts.SkipCrowd {
			continue
		}
		s.Boxes = append(s.Boxes, Box{X0: float32(a.BBox[0]), Y0: float32(a.BBox[1]),
			X1: float32(a.BBox[0] + a.BBox[2]), Y1: float32(a.BBox[1] + a.BBox[3]),
			Class: d.classOf[a.CategoryID], Difficult: a.IsCrowd != 0})
	}
	if d.opts.Masks {
		m := NewMask(im.Height, im.Width)
		for _, a := range d.anns[i] {
			obj, err := d.decodeSegmentation(a, im)
			if err != nil {
				return s, err
			}
			if obj == nil {
				continue
			}
			cls := uint8(d.classOf[a.CategoryID])
			for p, v := range obj.Pix {
				if v == 0 {
					continue
				}
				switch {
				case a.IsCrowd != 0:
					m.Pix[p] = Ignore
				case m.Pix[p] == 0:
					m.Pix[p] = cls
				case m.Pix[p] != cls:
					m.Pix[p] = Ignore
				}
			}
		}
		s.Mask = m
	}
	return s, nil
}

// InstanceMasks returns one binary mask (1 inside) per annotation of image i,
// in file order, decoded from its segmentation (nil for an annotation
// without one).
func (d *COCODataset) InstanceMasks(i int) ([]*Mask, error) {
	im := d.images[i]
	out := make([]*Mask, len(d.anns[i]))
	for k, a := range d.anns[i] {
		m, err := d.decodeSegmentation(a, im)
		if err != nil {
			return nil, err
		}
		out[k] = m
	}
	return out, nil
}

// decodeSegmentation rasterises an annotation's segmentation (nil if it has
// none).
func (d *COCODataset) decodeSegmentation(a cocoAnnotation, im cocoImage) (*Mask, error) {
	raw := bytes.TrimSpace(a.Segmentation)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("data: COCO annotations %s: annotation id %d: segmentation: %s", d.annPath, a.ID, fmt.Sprintf(format, args...))
	}
	if raw[0] == '[' {
		var polys [][]float64
		if err := json.Unmarshal(raw, &polys); err != nil {
			return nil, bad("want a list of polygons [[x0,y0,x1,y1,...],...]: %v", err)
		}
		m := NewMask(im.Height, im.Width)
		for _, p := range polys {
			if len(p)%2 != 0 {
				return nil, bad("a polygon has %d numbers, want an even count", len(p))
			}
			if err := checkPolygon(p); err != nil {
				return nil, bad("%v", err)
			}
			poly := rle.FromPolygon(p, im.Height, im.Width).Decode()
			for k, v := range poly {
				m.Pix[k] |= v
			}
		}
		return m, nil
	}
	var r cocoRLE
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, bad("want polygons or an RLE {\"size\":[h,w],\"counts\":...}: %v", err)
	}
	if len(r.Size) != 2 || r.Size[0] != im.Height || r.Size[1] != im.Width {
		return nil, bad("RLE size %v does not match the image's [%d,%d]", r.Size, im.Height, im.Width)
	}
	var enc rle.RLE
	counts := bytes.TrimSpace(r.Counts)
	switch {
	case len(counts) > 0 && counts[0] == '"':
		var s string
		if err := json.Unmarshal(counts, &s); err != nil {
			return nil, bad("counts: %v", err)
		}
		var err error
		if enc, err = rle.FromString(s, r.Size[0], r.Size[1]); err != nil {
			return nil, bad("counts: %v", err)
		}
	default:
		enc.H, enc.W = r.Size[0], r.Size[1]
		if err := json.Unmarshal(counts, &enc.Counts); err != nil {
			return nil, bad("counts: want a string or a list of non-negative integers: %v", err)
		}
		if err := enc.Validate(); err != nil {
			return nil, bad("counts: %v", err)
		}
	}
	return &Mask{H: enc.H, W: enc.W, Pix: enc.Decode()}, nil
}

// MaxPolygonLength is the longest polygon outline, in pixels (the sum over
// its edges of the larger of |Δx| and |Δy|), that a COCO segmentation may
// have. Rasterising traces the outline point by point on a 5× finer grid,
// so a polygon with absurd coordinates would otherwise take memory in
// proportion; one million pixels is 25 times the perimeter of a 10,000 ×
// 10,000 image. Raise it if real data need more.
var MaxPolygonLength = 1e6

// checkPolygon refuses non-finite coordinates and outlines longer than
// MaxPolygonLength.
func checkPolygon(p []float64) error {
	var length float64
	for i, v := range p {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("polygon coordinate %d is %v, want a finite number", i, v)
		}
	}
	for j := 0; j+1 < len(p); j += 2 {
		k := (j + 2) % (len(p) &^ 1)
		length += max(math.Abs(p[k]-p[j]), math.Abs(p[k+1]-p[j+1]))
	}
	if length > MaxPolygonLength {
		return fmt.Errorf("polygon outline is %.3g pixels long, more than the limit of %.3g (data.MaxPolygonLength): are its coordinates pixels of this image?", length, MaxPolygonLength)
	}
	return nil
}

// checkCOCOBox refuses a bbox [x, y, width, height] with a non-finite number
// or a negative width or height (an inverted box).
func checkCOCOBox(b []float64) error {
	for i, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bbox[%d] is %v, want a finite number", i, v)
		}
	}
	if b[2] < 0 || b[3] < 0 {
		return fmt.Errorf("bbox %v has a negative width or height (want [x, y, width, height])", b)
	}
	return nil
}

func trimExt(name string) string {
	base := filepath.Base(name)
	return base[:len(base)-len(filepath.Ext(base))]
}
