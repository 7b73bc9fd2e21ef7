package data

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/metrics/rle"
)

// Split names one part of a dataset for ExportVOC.
type Split struct {
	Name string // "train", "val", …
	Data Dataset
}

// ExportOptions configures ExportVOC.
type ExportOptions struct {
	// Classes names the classes by label index, background first. Required.
	Classes []string
	// ImageFormat is "png" (default: lossless, so another tool trains on
	// exactly the same pixels; files are JPEGImages/<name>.png) or "jpg"
	// (JPEGImages/<name>.jpg, as tools that hard-code VOC's ".jpg" expect).
	ImageFormat string
	// JPEGQuality is the quality for "jpg" (default 95).
	JPEGQuality int
	// Description goes into the COCO files' info.description.
	Description string
}

// ExportVOC writes the splits as a Pascal VOC-layout folder at dir, plus a
// COCO instances JSON per split:
//
//	dir/JPEGImages/<name>.png|.jpg       the images
//	dir/SegmentationClass/<name>.png     palette PNG label maps (VOC palette)
//	dir/SegmentationObject/<name>.png    instance maps (1..n, 0 none; InstanceMapper datasets)
//	dir/Annotations/<name>.xml           boxes (1-based inclusive pixel bounds)
//	dir/ImageSets/Segmentation/<split>.txt, dir/ImageSets/Main/<split>.txt (and trainval.txt)
//	dir/annotations/instances_<split>.json  COCO: boxes, RLE masks, categories 1..K
//	dir/classes.txt                       class names by label index
//
// Sample names (Sample.Name) become file stems and must be unique. The COCO
// segmentation of an object is the compressed RLE of its visible pixels when
// the dataset is an InstanceMapper, otherwise of the pixels of its class
// inside its box. Work is spread over GOMAXPROCS goroutines; the output does
// not depend on their number.
func ExportVOC(dir string, splits []Split, opts ExportOptions) error {
	if len(opts.Classes) < 2 {
		return fmt.Errorf("data: export %s: want at least 2 class names, got %d", dir, len(opts.Classes))
	}
	if opts.ImageFormat == "" {
		opts.ImageFormat = "png"
	}
	if opts.ImageFormat != "png" && opts.ImageFormat != "jpg" {
		return fmt.Errorf("data: export %s: image format %q (want png or jpg)", dir, opts.ImageFormat)
	}
	if opts.JPEGQuality == 0 {
		opts.JPEGQuality = 95
	}
	for _, sub := range []string{"JPEGImages", "SegmentationClass", "SegmentationObject", "Annotations",
		"ImageSets/Segmentation", "ImageSets/Main", "annotations"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("data: export: %w", err)
		}
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "classes.txt"), []byte(strings.Join(opts.Classes, "\n")+"\n")); err != nil {
		return fmt.Errorf("data: export: %w", err)
	}
	seen := map[string]string{}
	var trainval []string
	for _, sp := range splits {
		names, err := exportSplit(dir, sp, opts, seen)
		if err != nil {
			return err
		}
		trainval = append(trainval, names...)
		list := []byte(strings.Join(names, "\n") + "\n")
		for _, sub := range []string{"Segmentation", "Main"} {
			if err := atomicfile.WriteBytes(filepath.Join(dir, "ImageSets", sub, sp.Name+".txt"), list); err != nil {
				return fmt.Errorf("data: export: %w", err)
			}
		}
	}
	if len(splits) > 1 {
		list := []byte(strings.Join(trainval, "\n") + "\n")
		for _, sub := range []string{"Segmentation", "Main"} {
			if err := atomicfile.WriteBytes(filepath.Join(dir, "ImageSets", sub, "trainval.txt"), list); err != nil {
				return fmt.Errorf("data: export: %w", err)
			}
		}
	}
	return nil
}

// exportSplit writes one split's files and returns its sample names in order.
func exportSplit(dir string, sp Split, opts ExportOptions, seen map[string]string) ([]string, error) {
	n := sp.Data.Len()
	names := make([]string, n)
	images := make([]cocoImage, n)
	anns := make([][]cocoAnnotation, n)
	errs := make([]error, n)
	mapper, _ := sp.Data.(InstanceMapper)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), max(n, 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				names[i], images[i], anns[i], errs[i] = exportSample(dir, sp.Data, mapper, i, opts)
				if errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	coco := cocoFile{Info: &cocoInfo{Description: opts.Description}, Images: images, Annotations: []cocoAnnotation{}}
	for k := 1; k < len(opts.Classes); k++ {
		coco.Categories = append(coco.Categories, cocoCategory{ID: int64(k), Name: opts.Classes[k], Supercategory: "shape"})
	}
	var id int64
	for i, name := range names {
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("data: export %s: sample name %q appears twice (splits %s and %s)", dir, name, prev, sp.Name)
		}
		seen[name] = sp.Name
		for _, a := range anns[i] {
			id++
			a.ID = id
			coco.Annotations = append(coco.Annotations, a)
		}
	}
	b, err := json.Marshal(coco)
	if err != nil {
		return nil, fmt.Errorf("data: export %s: %w", dir, err)
	}
	p := filepath.Join(dir, "annotations", "instances_"+sp.Name+".json")
	if err := atomicfile.WriteBytes(p, b); err != nil {
		return nil, fmt.Errorf("data: export: %w", err)
	}
	return names, nil
}

// exportSample writes sample i's image, mask, instance map and annotation and
// returns its COCO records (annotation ids are filled in by the caller).
func exportSample(dir string, ds Dataset, mapper InstanceMapper, i int, opts ExportOptions) (string, cocoImage, []cocoAnnotation, error) {
	s, err := ds.Get(i)
	if err != nil {
		return "", cocoImage{}, nil, err
	}
	name := s.Name
	if name == "" {
		name = fmt.Sprintf("%06d", i)
	}
	if strings.ContainsAny(name, `/\`) {
		return "", cocoImage{}, nil, fmt.Errorf("data: export: sample %d name %q has a path separator", i, name)
	}
	img := s.Image.ToRGB()
	file := name + "." + opts.ImageFormat
	imgPath := filepath.Join(dir, "JPEGImages", file)
	if opts.ImageFormat == "png" {
		err = WritePNG(imgPath, img)
	} else {
		err = WriteJPEG(imgPath, img, opts.JPEGQuality)
	}
	if err != nil {
		return "", cocoImage{}, nil, err
	}
	ci := cocoImage{ID: int64(i + 1), FileName: file, Width: img.W, Height: img.H}
	if s.Mask != nil {
		if s.Mask.H != img.H || s.Mask.W != img.W {
			return "", cocoImage{}, nil, fmt.Errorf("data: export: sample %d (%s): mask %d×%d does not match image %d×%d", i, name, s.Mask.W, s.Mask.H, img.W, img.H)
		}
		if err := WriteMaskPNG(filepath.Join(dir, "SegmentationClass", name+".png"), s.Mask); err != nil {
			return "", cocoImage{}, nil, err
		}
	}
	var inst *Mask
	if mapper != nil {
		inst = mapper.InstanceMap(i)
		obj := NewMask(inst.H, inst.W)
		for k, v := range inst.Pix {
			if v != 255 {
				obj.Pix[k] = v + 1
			}
		}
		if s.Mask != nil {
			for k, v := range s.Mask.Pix {
				if v == Ignore {
					obj.Pix[k] = Ignore
				}
			}
		}
		if err := WriteMaskPNG(filepath.Join(dir, "SegmentationObject", name+".png"), obj); err != nil {
			return "", cocoImage{}, nil, err
		}
	}
	if err := writeVOCAnnotation(filepath.Join(dir, "Annotations", name+".xml"), file, img.H, img.W, 3, s.Boxes, opts.Classes); err != nil {
		return "", cocoImage{}, nil, err
	}
	var anns []cocoAnnotation
	for j, b := range s.Boxes {
		var enc rle.RLE
		switch {
		case inst != nil:
			enc = encodeLabel(inst, uint8(j))
		case s.Mask != nil:
			m := NewMask(img.H, img.W)
			for y := max(int(b.Y0), 0); y < min(int(b.Y1+0.5), img.H); y++ {
				for x := max(int(b.X0), 0); x < min(int(b.X1+0.5), img.W); x++ {
					if int(s.Mask.At(y, x)) == b.Class {
						m.Set(y, x, 1)
					}
				}
			}
			enc = rle.Encode(m.Pix, m.H, m.W)
		}
		a := cocoAnnotation{ImageID: ci.ID, CategoryID: int64(b.Class),
			BBox: []float64{float64(b.X0), float64(b.Y0), float64(b.Width()), float64(b.Height())}}
		if b.Difficult {
			a.IsCrowd = 1
		}
		if enc.Counts != nil {
			seg, _ := json.Marshal(map[string]any{"size": []int{enc.H, enc.W}, "counts": enc.String()})
			a.Segmentation = seg
			a.Area = float64(enc.Area())
		} else {
			a.Area = float64(b.Area())
		}
		anns = append(anns, a)
	}
	return name, ci, anns, nil
}

// encodeLabel returns the COCO RLE of the pixels of m equal to label.
func encodeLabel(m *Mask, label uint8) rle.RLE {
	bin := make([]uint8, len(m.Pix))
	for i, v := range m.Pix {
		if v == label {
			bin[i] = 1
		}
	}
	return rle.Encode(bin, m.H, m.W)
}
