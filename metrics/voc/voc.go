// Package voc evaluates object detection the PASCAL VOC way: per-class
// average precision from VOC XML annotations and per-class detection files,
// with the rules of the official devkit (VOCevaldet.m, VOCap.m):
//
//   - boxes are 1-based inclusive integer pixels, so a box is
//     (xmax−xmin+1)·(ymax−ymin+1) pixels and IoU uses those areas;
//   - detections are taken in descending score order (stable: ties keep file
//     order); each takes the ground truth of its class in its image with the
//     highest IoU (the first one on ties), and is a true positive when that
//     IoU ≥ the threshold (0.5) and the object was not taken yet;
//   - a detection whose best match is a "difficult" object is neither a true
//     nor a false positive, and difficult objects do not count in recall;
//   - a second detection of an already-taken object is a false positive;
//   - VOC2007 (and earlier) uses the 11-point interpolated AP, VOC2010 and
//     later the area under the precision envelope.
//
// Precision is tp / max(tp+fp, ε) as in the devkit's widely used Python port
// (py-faster-rcnn's voc_eval.py), which fovea follows for the 11 recall
// thresholds too (t = i·0.1 as NumPy's arange). Unlike that port, matching
// uses IoU ≥ threshold (the official MATLAB devkit; the port uses >) and a
// stable sort (the port's np.argsort is not stable on ties).
package voc

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/metrics/internal/pairwise"
)

// Object is one annotated object. Box: [xmin, ymin, xmax, ymax] in 1-based
// inclusive pixel coordinates.
type Object struct {
	Name      string
	Box       [4]float64
	Difficult bool
}

// Annotation is the ground truth of one image. ImageID is the XML file's
// base name without extension (VOC's image id, e.g. "000005"). Width and
// Height are the XML's <size>, 0 when the file has none.
type Annotation struct {
	ImageID       string
	Width, Height int
	Objects       []Object
}

// Detection is one detected box of some class. Box: [xmin, ymin, xmax, ymax].
type Detection struct {
	ImageID string
	Score   float64
	Box     [4]float64
}

type xmlAnnotation struct {
	XMLName xml.Name `xml:"annotation"`
	Size    *struct {
		Width  string `xml:"width"`
		Height string `xml:"height"`
	} `xml:"size"`
	Objects []struct {
		Name      *string `xml:"name"`
		Difficult *string `xml:"difficult"`
		BndBox    *struct {
			XMin *string `xml:"xmin"`
			YMin *string `xml:"ymin"`
			XMax *string `xml:"xmax"`
			YMax *string `xml:"ymax"`
		} `xml:"bndbox"`
	} `xml:"object"`
}

// ReadAnnotation reads one VOC XML annotation file. Each <object> needs a
// <name> and a <bndbox> with <xmin>, <ymin>, <xmax>, <ymax>; <difficult> is
// optional (0). An inverted box (xmax < xmin or ymax < ymin) is an error, and
// so, when the file has a <size>, is a box wholly outside the image (partly
// outside is accepted, as the devkit does). Errors name the file, the object
// and the field.
func ReadAnnotation(path string) (Annotation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Annotation{}, err
	}
	var x xmlAnnotation
	if err := xml.Unmarshal(b, &x); err != nil {
		return Annotation{}, fmt.Errorf("%s: malformed VOC XML: %w", path, err)
	}
	a := Annotation{ImageID: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))}
	if x.Size != nil && strings.TrimSpace(x.Size.Width) != "" {
		w, err1 := strconv.Atoi(strings.TrimSpace(x.Size.Width))
		h, err2 := strconv.Atoi(strings.TrimSpace(x.Size.Height))
		if err1 != nil || err2 != nil || w < 0 || h < 0 {
			return Annotation{}, fmt.Errorf("%s: <size> is %q×%q, want non-negative integer <width> and <height>", path, x.Size.Width, x.Size.Height)
		}
		a.Width, a.Height = w, h
	}
	for i, o := range x.Objects {
		if o.Name == nil || strings.TrimSpace(*o.Name) == "" {
			return Annotation{}, fmt.Errorf("%s: object %d: missing <name>", path, i)
		}
		obj := Object{Name: strings.TrimSpace(*o.Name)}
		if o.Difficult != nil {
			d, err := strconv.Atoi(strings.TrimSpace(*o.Difficult))
			if err != nil {
				return Annotation{}, fmt.Errorf("%s: object %d (%s): <difficult> = %q, want 0 or 1", path, i, obj.Name, *o.Difficult)
			}
			obj.Difficult = d != 0
		}
		if o.BndBox == nil {
			return Annotation{}, fmt.Errorf("%s: object %d (%s): missing <bndbox>", path, i, obj.Name)
		}
		for k, f := range []*string{o.BndBox.XMin, o.BndBox.YMin, o.BndBox.XMax, o.BndBox.YMax} {
			field := [4]string{"xmin", "ymin", "xmax", "ymax"}[k]
			if f == nil {
				return Annotation{}, fmt.Errorf("%s: object %d (%s): missing <bndbox><%s>", path, i, obj.Name, field)
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(*f), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return Annotation{}, fmt.Errorf("%s: object %d (%s): <%s> = %q, want a number", path, i, obj.Name, field, *f)
			}
			obj.Box[k] = v
		}
		if err := CheckBox(obj.Box, a.Width, a.Height); err != nil {
			return Annotation{}, fmt.Errorf("%s: object %d (%s): %w", path, i, obj.Name, err)
		}
		a.Objects = append(a.Objects, obj)
	}
	return a, nil
}

// ReadAnnotationDir reads every .xml file of dir, sorted by image id.
func ReadAnnotationDir(dir string) ([]Annotation, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Annotation
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".xml") {
			continue
		}
		a, err := ReadAnnotation(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no .xml annotation files", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ImageID < out[j].ImageID })
	return out, nil
}

// ReadDetections reads a detection file of one class: one detection a line,
// "<image_id> <score> <xmin> <ymin> <xmax> <ymax>" separated by blanks.
// Blank lines are skipped; anything else malformed is an error naming the
// file and the line.
func ReadDetections(path string) ([]Detection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Detection
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 6 {
			return nil, fmt.Errorf("%s:%d: %d fields, want <image_id> <score> <xmin> <ymin> <xmax> <ymax>", path, line, len(fields))
		}
		d := Detection{ImageID: fields[0]}
		for k, s := range fields[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				name := [5]string{"score", "xmin", "ymin", "xmax", "ymax"}[k]
				return nil, fmt.Errorf("%s:%d: %s = %q, want a finite number", path, line, name, s)
			}
			if k == 0 {
				d.Score = v
			} else {
				d.Box[k-1] = v
			}
		}
		if err := CheckBox(d.Box, 0, 0); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// CheckBox returns an error if box [xmin, ymin, xmax, ymax] (1-based
// inclusive pixels) is inverted (xmax < xmin or ymax < ymin) or, when width
// and height are positive, lies wholly outside the image [1, width] ×
// [1, height]. A box partly outside the image is accepted.
func CheckBox(box [4]float64, width, height int) error {
	if box[2] < box[0] || box[3] < box[1] {
		return fmt.Errorf("box [xmin ymin xmax ymax] = %v is inverted (want xmin ≤ xmax and ymin ≤ ymax)", box)
	}
	if width > 0 && height > 0 && (box[2] < 1 || box[3] < 1 || box[0] > float64(width) || box[1] > float64(height)) {
		return fmt.Errorf("box [xmin ymin xmax ymax] = %v lies wholly outside the %d×%d image (VOC boxes are 1-based pixels)", box, width, height)
	}
	return nil
}

// ClassResult is the evaluation of one class.
type ClassResult struct {
	Class string
	// AP is the average precision; NaN when the class has no non-difficult
	// object (recall undefined).
	AP float64
	// NPos is the number of non-difficult ground-truth objects.
	NPos int
	// Curve is the precision/recall curve in descending score order.
	Curve metrics.PRCurve
	// TP and FP count true and false positives at the end of the curve.
	TP, FP int
}

// EvalClass evaluates the detections of one class. gt maps image ids to the
// objects of this class in that image (other classes must be filtered out);
// every detection's image id must be a key of gt or of images (an image
// with no object of the class), else an error names the detection. use07
// selects the 11-point AP; iouThr is the overlap threshold (0.5).
func EvalClass(class string, gt map[string][]Object, images map[string]bool, dets []Detection, iouThr float64, use07 bool) (ClassResult, error) {
	res := ClassResult{Class: class}
	taken := make(map[string][]bool, len(gt))
	for id, objs := range gt {
		taken[id] = make([]bool, len(objs))
		for _, o := range objs {
			if !o.Difficult {
				res.NPos++
			}
		}
	}
	order := make([]int, len(dets))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return dets[order[a]].Score > dets[order[b]].Score })
	scores := make([]float64, len(dets))
	tp := make([]bool, len(dets))
	fp := make([]bool, len(dets))
	for rank, k := range order {
		d := dets[k]
		scores[rank] = d.Score
		objs, ok := gt[d.ImageID]
		if !ok && !images[d.ImageID] {
			return ClassResult{}, fmt.Errorf("class %s: detection of image %q, which has no annotation", class, d.ImageID)
		}
		ovmax, jmax := math.Inf(-1), -1
		for j, o := range objs {
			if ov, ok := metrics.IoUVOC(d.Box, o.Box); ok && ov > ovmax {
				ovmax, jmax = ov, j
			}
		}
		switch {
		case ovmax < iouThr:
			fp[rank] = true
		case objs[jmax].Difficult:
			// neither TP nor FP
		case !taken[d.ImageID][jmax]:
			tp[rank] = true
			taken[d.ImageID][jmax] = true
		default:
			fp[rank] = true // duplicate detection
		}
	}
	res.Curve = metrics.NewPRCurve(scores, tp, fp, res.NPos)
	for i := range tp {
		if tp[i] {
			res.TP++
		}
		if fp[i] {
			res.FP++
		}
	}
	switch {
	case res.NPos == 0:
		res.AP = math.NaN()
	case use07:
		res.AP = metrics.AP11Point(res.Curve.Recall, res.Curve.Precision)
	default:
		res.AP = metrics.APArea(res.Curve.Recall, res.Curve.Precision)
	}
	return res, nil
}

// Result is the evaluation of a data set.
type Result struct {
	// MAP is the mean of the classes' AP (NumPy order), leaving out NaN.
	MAP float64
	// Classes holds one result per class, sorted by class name.
	Classes []ClassResult
}

// Evaluate evaluates detections (class name → detections) against the
// annotations: every class that appears in the annotations is evaluated,
// and must have an entry in dets (possibly empty); a class of dets that no
// annotation has is an error. year selects the AP: 11-point before 2010,
// area from 2010 on.
func Evaluate(annots []Annotation, dets map[string][]Detection, iouThr float64, year int) (Result, error) {
	images := make(map[string]bool, len(annots))
	byClass := map[string]map[string][]Object{}
	for _, a := range annots {
		if images[a.ImageID] {
			return Result{}, fmt.Errorf("image %q is annotated twice", a.ImageID)
		}
		images[a.ImageID] = true
		for _, o := range a.Objects {
			if byClass[o.Name] == nil {
				byClass[o.Name] = map[string][]Object{}
			}
			byClass[o.Name][a.ImageID] = append(byClass[o.Name][a.ImageID], o)
		}
	}
	for c := range dets {
		if byClass[c] == nil {
			return Result{}, fmt.Errorf("detections of class %q, which no annotation has", c)
		}
	}
	classes := make([]string, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var res Result
	var aps []float64
	for _, c := range classes {
		d, ok := dets[c]
		if !ok {
			return Result{}, fmt.Errorf("no detections given for class %q", c)
		}
		r, err := EvalClass(c, byClass[c], images, d, iouThr, year < 2010)
		if err != nil {
			return Result{}, err
		}
		res.Classes = append(res.Classes, r)
		if !math.IsNaN(r.AP) {
			aps = append(aps, r.AP)
		}
	}
	res.MAP = pairwise.Mean(aps)
	return res, nil
}
