package coco

import (
	"bytes"
	"fmt"
	"math"
	"os"

	"github.com/fovea-ml/fovea/metrics/rle"
)

// Image is one entry of a COCO "images" list.
type Image struct {
	ID            int64
	Width, Height int // 0 when absent (they are needed only for segm)
}

// Category is one entry of a COCO "categories" list.
type Category struct {
	ID   int64
	Name string
}

// Annotation is a ground-truth object or a detection.
type Annotation struct {
	// ID is the annotation id; detections get their 1-based position in the
	// results file, as pycocotools' loadRes.
	ID         int64
	ImageID    int64
	CategoryID int64
	// BBox is [x, y, width, height].
	BBox [4]float64
	// Area is the ground truth's "area" field; for detections the box area
	// (or the mask area for results that have a segmentation but no bbox),
	// as loadRes.
	Area    float64
	IsCrowd bool
	// Score is the detection confidence (0 for ground truth).
	Score float64
	// Segmentation is the raw JSON of the "segmentation" field (polygons,
	// uncompressed or compressed RLE), nil if absent; Mask turns it into an
	// RLE.
	Segmentation []byte
	// boxPolygon marks a detection without segmentation whose mask is its box
	// (loadRes writes the box as a polygon).
	boxPolygon bool
	hasBBox    bool
	mask       *rle.RLE // decoded segmentation of a result, kept from loading
}

// Dataset is a COCO ground-truth file: images, categories and annotations.
type Dataset struct {
	File        string
	Images      []Image
	Categories  []Category
	Annotations []Annotation

	imageIndex map[int64]int
	catIndex   map[int64]int
}

// ImageByID returns the image with the given id.
func (d *Dataset) ImageByID(id int64) (Image, bool) {
	i, ok := d.imageIndex[id]
	if !ok {
		return Image{}, false
	}
	return d.Images[i], true
}

// CategoryByID returns the category with the given id.
func (d *Dataset) CategoryByID(id int64) (Category, bool) {
	i, ok := d.catIndex[id]
	if !ok {
		return Category{}, false
	}
	return d.Categories[i], true
}

// LoadDataset reads a COCO annotation file. Images need "id" (and "height",
// "width" for segm evaluation), categories "id" and "name", annotations
// "id", "image_id", "category_id", "bbox" and "area"; "iscrowd" defaults to
// 0. Annotations of unknown images or categories and repeated ids are
// errors naming the file, the entry and the field.
func LoadDataset(path string) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDataset(path, data)
}

// ParseDataset is LoadDataset on bytes already read; name is used in errors.
func ParseDataset(name string, data []byte) (*Dataset, error) {
	s := &scanner{data: data, file: name}
	d := &Dataset{File: name, imageIndex: map[int64]int{}, catIndex: map[int64]int{}}
	if s.peek() != '{' {
		return nil, s.finish(s.errorf("a COCO annotation file is a JSON object, found %s", s.found()))
	}
	var seen [3]bool
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "images":
			seen[0] = true
			return s.array(func(i int) error {
				img, err := parseImage(s, i)
				if err != nil {
					return err
				}
				if _, dup := d.imageIndex[img.ID]; dup {
					return s.errorf("images[%d]: image id %d appears twice", i, img.ID)
				}
				d.imageIndex[img.ID] = len(d.Images)
				d.Images = append(d.Images, img)
				return nil
			})
		case "categories":
			seen[1] = true
			return s.array(func(i int) error {
				c, err := parseCategory(s, i)
				if err != nil {
					return err
				}
				if _, dup := d.catIndex[c.ID]; dup {
					return s.errorf("categories[%d]: category id %d appears twice", i, c.ID)
				}
				d.catIndex[c.ID] = len(d.Categories)
				d.Categories = append(d.Categories, c)
				return nil
			})
		case "annotations":
			seen[2] = true
			return s.array(func(i int) error {
				a, err := parseAnnotation(s, i, false)
				if err != nil {
					return err
				}
				d.Annotations = append(d.Annotations, a)
				return nil
			})
		default:
			return s.skip()
		}
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, s.finish(err)
	}
	for k, list := range [3]string{"images", "categories", "annotations"} {
		if !seen[k] {
			return nil, fmt.Errorf("%s: no %q list", name, list)
		}
	}
	ids := make(map[int64]bool, len(d.Annotations))
	for i, a := range d.Annotations {
		if ids[a.ID] {
			return nil, fmt.Errorf("%s: annotations[%d]: annotation id %d appears twice", name, i, a.ID)
		}
		ids[a.ID] = true
		if _, ok := d.imageIndex[a.ImageID]; !ok {
			return nil, fmt.Errorf("%s: annotations[%d] (id %d): image_id %d is not in images", name, i, a.ID, a.ImageID)
		}
		if _, ok := d.catIndex[a.CategoryID]; !ok {
			return nil, fmt.Errorf("%s: annotations[%d] (id %d): category_id %d is not in categories", name, i, a.ID, a.CategoryID)
		}
	}
	return d, nil
}

func parseImage(s *scanner, i int) (Image, error) {
	var img Image
	hasID := false
	err := s.object(func(key []byte) error {
		var err error
		var v int64
		switch string(key) {
		case "id":
			hasID = true
			img.ID, err = s.intVal()
		case "width":
			v, err = s.intVal()
			img.Width = int(v)
		case "height":
			v, err = s.intVal()
			img.Height = int(v)
		default:
			err = s.skip()
		}
		if err != nil {
			return within(err, "images[%d].%s", i, key)
		}
		return nil
	})
	if err == nil && !hasID {
		err = s.errorf("images[%d]: no \"id\"", i)
	}
	return img, err
}

func parseCategory(s *scanner, i int) (Category, error) {
	var c Category
	hasID := false
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			hasID = true
			c.ID, err = s.intVal()
		case "name":
			var b []byte
			b, err = s.str()
			c.Name = string(b)
		default:
			err = s.skip()
		}
		if err != nil {
			return within(err, "categories[%d].%s", i, key)
		}
		return nil
	})
	if err == nil && !hasID {
		err = s.errorf("categories[%d]: no \"id\"", i)
	}
	return c, err
}

// annotation field bits, to report missing required fields.
const (
	hasID = 1 << iota
	hasImage
	hasCat
	hasBBox
	hasArea
	hasScore
	hasSegm
)

// parseAnnotation reads one ground-truth annotation or detection result.
func parseAnnotation(s *scanner, i int, result bool) (Annotation, error) {
	var a Annotation
	what := "annotations"
	if result {
		what = "results"
	}
	var have int
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			have |= hasID
			a.ID, err = s.intVal()
		case "image_id":
			have |= hasImage
			a.ImageID, err = s.intVal()
		case "category_id":
			have |= hasCat
			a.CategoryID, err = s.intVal()
		case "bbox":
			var box []float64
			err = s.array(func(k int) error {
				v, err := s.num()
				box = append(box, v)
				return err
			})
			switch {
			case err != nil:
			case len(box) == 0 && result: // loadRes treats "bbox": [] as no box
			case len(box) != 4:
				err = s.errorf("%d numbers, want [x, y, width, height]", len(box))
			default:
				have |= hasBBox
				copy(a.BBox[:], box)
				err = checkBox(s, a.BBox)
			}
		case "area":
			have |= hasArea
			a.Area, err = s.num()
		case "iscrowd":
			a.IsCrowd, err = s.boolish()
		case "score":
			have |= hasScore
			a.Score, err = s.num()
		case "segmentation":
			have |= hasSegm
			a.Segmentation, err = s.raw()
		default:
			err = s.skip()
		}
		if err != nil {
			return within(err, "%s[%d].%s", what, i, key)
		}
		return nil
	})
	if err != nil {
		return a, err
	}
	need := []struct {
		bit  int
		name string
	}{{hasImage, "image_id"}, {hasCat, "category_id"}}
	if result {
		need = append(need, struct {
			bit  int
			name string
		}{hasScore, "score"})
	} else {
		need = append(need, []struct {
			bit  int
			name string
		}{{hasID, "id"}, {hasBBox, "bbox"}, {hasArea, "area"}}...)
	}
	for _, n := range need {
		if have&n.bit == 0 {
			return a, s.errorf("%s[%d]: no %q", what, i, n.name)
		}
	}
	if result && have&(hasBBox|hasSegm) == 0 {
		return a, s.errorf("results[%d]: neither \"bbox\" nor \"segmentation\"", i)
	}
	if math.IsNaN(a.Score) {
		return a, s.errorf("%s[%d]: score is NaN", what, i)
	}
	a.hasBBox = have&hasBBox != 0
	return a, nil
}

// checkBox refuses a bbox [x, y, width, height] with a non-finite number, a
// negative width or height (an inverted box), or an infinite area.
// pycocotools accepts such boxes and computes with them (a negative area,
// IoUs of nonsense); fovea refuses them. Negative x or y (a box partly left
// of or above the image) are accepted.
func checkBox(s *scanner, b [4]float64) error {
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return s.errorf("%v is not finite", b)
		}
	}
	if b[2] < 0 || b[3] < 0 {
		return s.errorf("%v has a negative width or height, want [x, y, width, height] with width, height ≥ 0", b)
	}
	if math.IsInf(b[2]*b[3], 0) {
		return s.errorf("%v has an infinite area", b)
	}
	return nil
}

// MaxPolygonLength is the longest polygon outline, in pixels (the sum over
// its edges of the larger of |Δx| and |Δy|), that a segmentation may have.
// Rasterising traces the outline on a 5× finer grid, so a polygon with absurd
// coordinates would otherwise take memory in proportion; one million pixels
// is 25 times the perimeter of a 10,000 × 10,000 image. Raise it if real data
// need more.
var MaxPolygonLength = 1e6

// checkPolygon refuses polygon i if it has an odd number of coordinates
// (pycocotools silently drops the last one; fovea refuses), a non-finite
// coordinate, or an outline longer than MaxPolygonLength.
func checkPolygon(i int, p []float64) error {
	if len(p)%2 != 0 {
		return fmt.Errorf("polygon %d has %d coordinates, want an even count [x0, y0, x1, y1, ...] (pycocotools would drop the last one)", i, len(p))
	}
	for k, v := range p {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("polygon %d: coordinate %d is %v, want a finite number", i, k, v)
		}
	}
	var length float64
	for j := 0; j+1 < len(p); j += 2 {
		k := (j + 2) % len(p)
		length += max(math.Abs(p[k]-p[j]), math.Abs(p[k+1]-p[j+1]))
	}
	if length > MaxPolygonLength {
		return fmt.Errorf("polygon %d: outline is %.3g pixels long, more than the limit of %.3g (coco.MaxPolygonLength): are its coordinates pixels of this image?", i, length, MaxPolygonLength)
	}
	return nil
}

// Mask returns the annotation's segmentation as an RLE on its image of size
// h×w, as pycocotools' annToRLE: polygons are rasterised and their parts
// merged, uncompressed RLE is compressed, compressed RLE is used as given.
// Masks whose size is not h×w are an error.
func (a *Annotation) Mask(h, w int) (rle.RLE, error) {
	if a.mask != nil && a.mask.H == h && a.mask.W == w {
		return *a.mask, nil
	}
	if a.boxPolygon {
		return rle.FromBbox(a.BBox, h, w), nil
	}
	if a.Segmentation == nil {
		return rle.RLE{}, fmt.Errorf("no segmentation")
	}
	s := &scanner{data: a.Segmentation, file: "segmentation"}
	switch s.peek() {
	case '[':
		var polys [][]float64
		err := s.array(func(i int) error {
			var p []float64
			if s.peek() != '[' {
				return fmt.Errorf("polygon %d is not a list of numbers", i)
			}
			err := s.array(func(int) error {
				v, err := s.num()
				p = append(p, v)
				return err
			})
			polys = append(polys, p)
			return err
		})
		if err != nil {
			return rle.RLE{}, fmt.Errorf("bad polygon list: %w", err)
		}
		if len(polys) == 0 {
			return rle.RLE{}, fmt.Errorf("empty polygon list")
		}
		for i, p := range polys {
			if err := checkPolygon(i, p); err != nil {
				return rle.RLE{}, err
			}
		}
		if len(polys[0]) <= 4 {
			// pycocotools reads a first "polygon" of 4 numbers as a box and
			// then fails; fewer is not a polygon.
			return rle.RLE{}, fmt.Errorf("first polygon has %d coordinates, want at least 6", len(polys[0]))
		}
		parts := make([]rle.RLE, len(polys))
		for i, p := range polys {
			parts[i] = rle.FromPolygon(p, h, w)
		}
		return rle.Merge(parts, false), nil
	case '{':
		var size []float64
		var countsStr []byte
		var counts []uint32
		isList := false
		err := s.object(func(key []byte) error {
			switch string(key) {
			case "size":
				return s.array(func(int) error {
					v, err := s.num()
					size = append(size, v)
					return err
				})
			case "counts":
				if s.peek() == '[' {
					isList = true
					return s.array(func(int) error {
						v, err := s.num()
						if err == nil && (v < 0 || v > math.MaxUint32 || v != math.Trunc(v)) {
							err = fmt.Errorf("count %v is not a non-negative integer", v)
						}
						counts = append(counts, uint32(v))
						return err
					})
				}
				var err error
				countsStr, err = s.str()
				return err
			}
			return s.skip()
		})
		if err != nil {
			return rle.RLE{}, fmt.Errorf("bad RLE: %w", err)
		}
		if len(size) != 2 {
			return rle.RLE{}, fmt.Errorf("RLE size has %d numbers, want [height, width]", len(size))
		}
		rh, rw := int(size[0]), int(size[1])
		if rh != h || rw != w {
			return rle.RLE{}, fmt.Errorf("mask size [%d, %d] differs from the image's [%d, %d]", rh, rw, h, w)
		}
		if isList {
			r := rle.RLE{H: rh, W: rw, Counts: counts}
			if err := r.Validate(); err != nil {
				return rle.RLE{}, fmt.Errorf("uncompressed RLE: %w", err)
			}
			return r, nil
		}
		if countsStr == nil {
			return rle.RLE{}, fmt.Errorf("RLE has no counts")
		}
		return rle.FromString(string(countsStr), rh, rw)
	}
	return rle.RLE{}, fmt.Errorf("segmentation is neither a polygon list nor an RLE object: %.40s", bytes.TrimSpace(a.Segmentation))
}

// LoadResults reads a COCO results file (a JSON list of detections with
// "image_id", "category_id", "score" and "bbox" and/or "segmentation") and
// completes it as pycocotools' loadRes: ids are 1-based positions, iscrowd
// is 0, and — decided by the first result, for all of them — either every
// result has a box, whose area is width×height and which stands in for a
// missing segmentation, or results have segmentations (RLE), whose mask
// area is the area and whose mask box is a missing bbox. Image ids or
// categories that gt does not have, and masks whose size is not their
// image's, are errors naming the file and the result.
func LoadResults(path string, gt *Dataset) ([]Annotation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseResults(path, data, gt)
}

// ParseResults is LoadResults on bytes already read; name is used in errors.
func ParseResults(name string, data []byte, gt *Dataset) ([]Annotation, error) {
	res, err := parseResultList(name, data)
	if err != nil {
		return nil, err
	}
	return completeResults(name, res, gt)
}

// LoadFiles reads a ground-truth file and a results file at the same time
// (LoadDataset and LoadResults), for `fovea eval coco`.
func LoadFiles(gtPath, resultsPath string) (*Dataset, []Annotation, error) {
	type parsed struct {
		res []Annotation
		err error
	}
	ch := make(chan parsed, 1)
	go func() {
		data, err := os.ReadFile(resultsPath)
		if err != nil {
			ch <- parsed{nil, err}
			return
		}
		res, err := parseResultList(resultsPath, data)
		ch <- parsed{res, err}
	}()
	gt, gtErr := LoadDataset(gtPath)
	r := <-ch
	if gtErr != nil {
		return nil, nil, gtErr
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	res, err := completeResults(resultsPath, r.res, gt)
	return gt, res, err
}

// parseResultList reads the JSON list of a results file.
func parseResultList(name string, data []byte) ([]Annotation, error) {
	s := &scanner{data: data, file: name}
	if s.peek() != '[' {
		return nil, s.finish(s.errorf("a COCO results file is a JSON list of detections, found %s", s.found()))
	}
	// about 100 bytes a detection: allocate once rather than grow
	res := make([]Annotation, 0, len(data)/100+1)
	err := s.array(func(i int) error {
		a, err := parseAnnotation(s, i, true)
		if err != nil {
			return err
		}
		res = append(res, a)
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, s.finish(err)
	}
	return res, nil
}

// completeResults checks results against gt and fills in ids, areas, boxes
// and masks as loadRes does.
func completeResults(name string, res []Annotation, gt *Dataset) ([]Annotation, error) {
	if len(res) == 0 {
		return res, nil
	}
	boxes := res[0].hasBBox
	for i := range res {
		a := &res[i]
		a.ID = int64(i + 1)
		a.IsCrowd = false
		img, ok := gt.ImageByID(a.ImageID)
		if !ok {
			return nil, fmt.Errorf("%s: results[%d]: image_id %d is not in %s", name, i, a.ImageID, gt.File)
		}
		if _, ok := gt.CategoryByID(a.CategoryID); !ok {
			return nil, fmt.Errorf("%s: results[%d]: category_id %d is not in %s", name, i, a.CategoryID, gt.File)
		}
		if boxes {
			if !a.hasBBox {
				return nil, fmt.Errorf("%s: results[%d]: no \"bbox\" (results[0] has one, so all need one)", name, i)
			}
			a.Area = a.BBox[2] * a.BBox[3]
			a.boxPolygon = a.Segmentation == nil
			if a.Segmentation != nil && img.Height > 0 && img.Width > 0 {
				// check the mask now, so that a bad one is reported with the file
				m, err := a.Mask(img.Height, img.Width)
				if err != nil {
					return nil, fmt.Errorf("%s: results[%d].segmentation: %w", name, i, err)
				}
				a.mask = &m
			}
			continue
		}
		if a.Segmentation == nil {
			return nil, fmt.Errorf("%s: results[%d]: no \"segmentation\" (results[0] has no bbox, so all need a segmentation)", name, i)
		}
		m, err := a.Mask(img.Height, img.Width)
		if err != nil {
			return nil, fmt.Errorf("%s: results[%d].segmentation: %w", name, i, err)
		}
		a.mask = &m
		a.Area = float64(m.Area())
		if !a.hasBBox {
			a.BBox = m.Bbox()
		}
	}
	return res, nil
}
