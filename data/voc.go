package data

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// VOCClasses are Pascal VOC's 21 segmentation classes, background first;
// detection uses indices 1..20 for the same names.
var VOCClasses = []string{"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
	"chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"}

// VOCOptions configures OpenVOC.
type VOCOptions struct {
	// Task is "segmentation" (default: ids from ImageSets/Segmentation,
	// masks from SegmentationClass, boxes too when Annotations has the file)
	// or "detection" (ids from ImageSets/Main, boxes from Annotations, no
	// masks).
	Task string
	// Classes names the classes by label index, background first. If nil,
	// the file classes.txt at the root (one name per line, as ExportVOC
	// writes) is used when present, otherwise VOCClasses. Mask labels must be
	// below len(Classes) (or Ignore), and every object name in an annotation
	// must be one of Classes.
	Classes []string
	// SkipDifficult drops objects marked difficult instead of returning them
	// with Box.Difficult set.
	SkipDifficult bool
}

// VOCDataset is a split of a dataset in the Pascal VOC folder layout:
//
//	ROOT/JPEGImages/<id>.jpg (or .png)
//	ROOT/SegmentationClass/<id>.png    palette PNG of class indices, 255 = Ignore
//	ROOT/Annotations/<id>.xml          objects with bndbox (1-based, inclusive)
//	ROOT/ImageSets/Segmentation/<split>.txt, ROOT/ImageSets/Main/<split>.txt
//
// Files are read on each Get, so it is cheap to open and safe for concurrent
// use; images are returned as RGB (grey files are repeated on 3 channels).
type VOCDataset struct {
	root    string
	ids     []string
	opts    VOCOptions
	classes map[string]int
}

// OpenVOC opens split (such as "train", "val", "trainval") of the VOC-layout
// dataset at root. It reads the split's id list and, if needed, classes.txt;
// images, masks and annotations are read by Get.
func OpenVOC(root, split string, opts VOCOptions) (*VOCDataset, error) {
	if opts.Task == "" {
		opts.Task = "segmentation"
	}
	var list string
	switch opts.Task {
	case "segmentation":
		list = filepath.Join(root, "ImageSets", "Segmentation", split+".txt")
	case "detection":
		list = filepath.Join(root, "ImageSets", "Main", split+".txt")
	default:
		return nil, fmt.Errorf("data: VOC %s: unknown task %q (want segmentation or detection)", root, opts.Task)
	}
	if opts.Classes == nil {
		p := filepath.Join(root, "classes.txt")
		names, err := readLines(p)
		switch {
		case err == nil:
			if len(names) < 2 {
				return nil, fmt.Errorf("data: VOC classes %s: want at least 2 class names, found %d", p, len(names))
			}
			opts.Classes = names
		case errors.Is(err, fs.ErrNotExist):
			opts.Classes = VOCClasses
		default:
			return nil, fmt.Errorf("data: VOC classes: %w", err)
		}
	}
	if len(opts.Classes) > 255 {
		return nil, fmt.Errorf("data: VOC %s: %d classes, at most 255 fit a label map", root, len(opts.Classes))
	}
	ids, err := readLines(list)
	if err != nil {
		return nil, fmt.Errorf("data: VOC split list: %w", err)
	}
	for k, id := range ids {
		ids[k] = strings.Fields(id)[0] // ImageSets/Main/<class>_<split>.txt style "id  1"
	}
	cls := make(map[string]int, len(opts.Classes))
	for i, c := range opts.Classes {
		cls[c] = i
	}
	return &VOCDataset{root: root, ids: ids, opts: opts, classes: cls}, nil
}

// readLines returns the non-empty, trimmed lines of a text file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Len returns the number of ids in the split.
func (d *VOCDataset) Len() int { return len(d.ids) }

// Classes returns the class names by label index.
func (d *VOCDataset) Classes() []string { return d.opts.Classes }

// ID returns the file stem of sample i.
func (d *VOCDataset) ID(i int) string { return d.ids[i] }

// Get reads sample i: its image, its mask (segmentation task) and its boxes
// (from Annotations, required for detection, optional for segmentation). An
// error names the file that is missing or wrong: a mask whose size differs
// from its image's, or a label that is neither below the class count nor
// Ignore.
func (d *VOCDataset) Get(i int) (Sample, error) {
	if i < 0 || i >= len(d.ids) {
		return Sample{}, fmt.Errorf("data: VOC %s: index %d out of range [0,%d)", d.root, i, len(d.ids))
	}
	id := d.ids[i]
	s := Sample{Name: id}
	imgPath := filepath.Join(d.root, "JPEGImages", id+".jpg")
	if _, err := os.Stat(imgPath); err != nil {
		if alt := filepath.Join(d.root, "JPEGImages", id+".png"); fileExists(alt) {
			imgPath = alt
		}
	}
	img, err := ReadImage(imgPath)
	if err != nil {
		return s, err
	}
	s.Image = img.ToRGB()
	annPath := filepath.Join(d.root, "Annotations", id+".xml")
	if d.opts.Task == "detection" || fileExists(annPath) {
		boxes, err := d.readAnnotation(annPath)
		if err != nil {
			return s, err
		}
		s.Boxes = boxes
	}
	if d.opts.Task == "segmentation" {
		mp := filepath.Join(d.root, "SegmentationClass", id+".png")
		m, err := ReadMask(mp)
		if err != nil {
			return s, err
		}
		if m.H != img.H || m.W != img.W {
			return s, fmt.Errorf("data: mask %s is %d×%d but image %s is %d×%d", mp, m.W, m.H, imgPath, img.W, img.H)
		}
		if err := checkLabels(m, len(d.opts.Classes)); err != nil {
			return s, fmt.Errorf("data: mask %s: %w", mp, err)
		}
		s.Mask = m
	}
	return s, nil
}

// checkLabels returns an error if a label of m is neither below n nor Ignore.
func checkLabels(m *Mask, n int) error {
	for i, v := range m.Pix {
		if v != Ignore && int(v) >= n {
			return fmt.Errorf("label %d at pixel (%d,%d) is not below the class count %d (nor %d = ignore)", v, i%m.W, i/m.W, n, Ignore)
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// vocAnnotation is the part of a VOC annotation XML that fovea reads and
// writes.
type vocAnnotation struct {
	XMLName   xml.Name    `xml:"annotation"`
	Folder    string      `xml:"folder"`
	Filename  string      `xml:"filename"`
	Size      vocSize     `xml:"size"`
	Segmented int         `xml:"segmented"`
	Objects   []vocObject `xml:"object"`
}

type vocSize struct {
	Width  int `xml:"width"`
	Height int `xml:"height"`
	Depth  int `xml:"depth"`
}

type vocObject struct {
	Name      string    `xml:"name"`
	Pose      string    `xml:"pose"`
	Truncated int       `xml:"truncated"`
	Difficult int       `xml:"difficult"`
	BndBox    vocBndBox `xml:"bndbox"`
}

type vocBndBox struct {
	XMin string `xml:"xmin"`
	YMin string `xml:"ymin"`
	XMax string `xml:"xmax"`
	YMax string `xml:"ymax"`
}

// readAnnotation reads the boxes of a VOC annotation file.
func (d *VOCDataset) readAnnotation(path string) ([]Box, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: VOC annotation: %w", err)
	}
	var a vocAnnotation
	if err := xml.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("data: VOC annotation %s: %w", path, err)
	}
	boxes := []Box{}
	for k, o := range a.Objects {
		cls, ok := d.classes[strings.TrimSpace(o.Name)]
		if !ok {
			return nil, fmt.Errorf("data: VOC annotation %s: object %d: unknown class %q", path, k, o.Name)
		}
		if o.Difficult != 0 && d.opts.SkipDifficult {
			continue
		}
		var v [4]float64
		for j, s := range []string{o.BndBox.XMin, o.BndBox.YMin, o.BndBox.XMax, o.BndBox.YMax} {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("data: VOC annotation %s: object %d: bndbox field %s: want a finite number, got %q",
					path, k, [4]string{"xmin", "ymin", "xmax", "ymax"}[j], s)
			}
			v[j] = f
		}
		if v[2] < v[0] || v[3] < v[1] {
			return nil, fmt.Errorf("data: VOC annotation %s: object %d: bndbox (%g,%g)-(%g,%g) has max < min", path, k, v[0], v[1], v[2], v[3])
		}
		boxes = append(boxes, Box{X0: float32(v[0] - 1), Y0: float32(v[1] - 1), X1: float32(v[2]), Y1: float32(v[3]),
			Class: cls, Difficult: o.Difficult != 0})
	}
	return boxes, nil
}

// writeVOCAnnotation writes a VOC annotation XML for an image of size (h, w).
func writeVOCAnnotation(path, filename string, h, w, depth int, boxes []Box, classes []string) error {
	a := vocAnnotation{Folder: "JPEGImages", Filename: filename, Size: vocSize{Width: w, Height: h, Depth: depth}, Segmented: 1}
	for _, b := range boxes {
		name := strconv.Itoa(b.Class)
		if b.Class >= 0 && b.Class < len(classes) {
			name = classes[b.Class]
		}
		trunc := 0
		if b.X0 <= 0 || b.Y0 <= 0 || int(b.X1) >= w || int(b.Y1) >= h {
			trunc = 1
		}
		diff := 0
		if b.Difficult {
			diff = 1
		}
		f := func(v float32) string { return strconv.FormatFloat(float64(v), 'f', -1, 32) }
		a.Objects = append(a.Objects, vocObject{Name: name, Pose: "Unspecified", Truncated: trunc, Difficult: diff,
			BndBox: vocBndBox{XMin: f(b.X0 + 1), YMin: f(b.Y0 + 1), XMax: f(b.X1), YMax: f(b.Y1)}})
	}
	out, err := xml.MarshalIndent(a, "", "\t")
	if err != nil {
		return fmt.Errorf("data: write %s: %w", path, err)
	}
	return atomicfile.WriteBytes(path, append(out, '\n'))
}
