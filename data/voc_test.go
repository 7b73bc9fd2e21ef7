package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exportSmall writes a small shapes dataset and returns its folder and splits.
func exportSmall(t *testing.T, format string) (string, *ShapesDataset, *ShapesDataset) {
	t.Helper()
	dir := t.TempDir()
	cfg := ShapesConfig{Size: 48, Train: 6, Val: 3, Seed: 5}
	tr, _ := Shapes(cfg, "train")
	va, _ := Shapes(cfg, "val")
	err := ExportVOC(dir, []Split{{"train", tr}, {"val", va}}, ExportOptions{Classes: ShapesClasses, ImageFormat: format})
	if err != nil {
		t.Fatal(err)
	}
	return dir, tr, va
}

func TestExportVOCRoundTrip(t *testing.T) {
	dir, tr, va := exportSmall(t, "png")
	for _, split := range []struct {
		name string
		ds   *ShapesDataset
	}{{"train", tr}, {"val", va}} {
		v, err := OpenVOC(dir, split.name, VOCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Len() != split.ds.Len() || len(v.Classes()) != 7 {
			t.Fatalf("%s: %d samples, %d classes", split.name, v.Len(), len(v.Classes()))
		}
		for i := 0; i < v.Len(); i++ {
			got, err := v.Get(i)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := split.ds.Get(i)
			if got.Name != want.Name {
				t.Fatalf("name %q, want %q", got.Name, want.Name)
			}
			for k := range want.Image.Pix {
				if got.Image.Pix[k] != want.Image.Pix[k] {
					t.Fatalf("%s pixel %d: %v != %v", got.Name, k, got.Image.Pix[k], want.Image.Pix[k])
				}
			}
			if string(got.Mask.Pix) != string(want.Mask.Pix) {
				t.Fatalf("%s: mask differs", got.Name)
			}
			if len(got.Boxes) != len(want.Boxes) {
				t.Fatalf("%s: %d boxes, want %d", got.Name, len(got.Boxes), len(want.Boxes))
			}
			for j := range want.Boxes {
				if got.Boxes[j] != want.Boxes[j] {
					t.Fatalf("%s box %d: %+v, want %+v", got.Name, j, got.Boxes[j], want.Boxes[j])
				}
			}
		}
		// Detection view of the same folder.
		det, err := OpenVOC(dir, split.name, VOCOptions{Task: "detection"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := det.Get(0)
		if err != nil || s.Mask != nil || len(s.Boxes) == 0 {
			t.Fatalf("detection sample: mask %v, %d boxes, err %v", s.Mask, len(s.Boxes), err)
		}
		// COCO view.
		coco, err := OpenCOCO(filepath.Join(dir, "annotations", "instances_"+split.name+".json"), filepath.Join(dir, "JPEGImages"), COCOOptions{Masks: true})
		if err != nil {
			t.Fatal(err)
		}
		if coco.Len() != split.ds.Len() || strings.Join(coco.Classes(), ",") != strings.Join(ShapesClasses, ",") {
			t.Fatalf("COCO: %d images, classes %v", coco.Len(), coco.Classes())
		}
		for i := 0; i < coco.Len(); i++ {
			got, err := coco.Get(i)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := split.ds.Get(i)
			if string(got.Mask.Pix) != string(want.Mask.Pix) {
				t.Fatalf("COCO %s: mask from RLE differs", got.Name)
			}
			for j := range want.Boxes {
				if got.Boxes[j] != want.Boxes[j] {
					t.Fatalf("COCO %s box %d: %+v, want %+v", got.Name, j, got.Boxes[j], want.Boxes[j])
				}
			}
			inst, err := coco.InstanceMasks(i)
			if err != nil {
				t.Fatal(err)
			}
			ref := split.ds.InstanceMap(i)
			for j, m := range inst {
				for p, v := range m.Pix {
					if (v == 1) != (int(ref.Pix[p]) == j) {
						t.Fatalf("COCO %s instance %d differs at pixel %d", got.Name, j, p)
					}
				}
			}
		}
	}
	tv, err := OpenVOC(dir, "trainval", VOCOptions{})
	if err != nil || tv.Len() != 9 {
		t.Fatalf("trainval: %v, %v", tv, err)
	}
}

func TestExportJPEG(t *testing.T) {
	dir, tr, _ := exportSmall(t, "jpg")
	v, err := OpenVOC(dir, "train", VOCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Get(0)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tr.Get(0)
	var sum float64
	for k := range want.Image.Pix {
		d := float64(s.Image.Pix[k] - want.Image.Pix[k])
		sum += d * d
	}
	if rmse := sum / float64(len(want.Image.Pix)); rmse > 0.01 {
		t.Fatalf("JPEG mean squared error %g", rmse)
	}
}

func TestVOCErrorsNameTheFile(t *testing.T) {
	tr, _ := Shapes(ShapesConfig{Size: 48, Train: 1, Seed: 5}, "train")
	id := "shapes_train_000000"
	maskRel := filepath.Join("SegmentationClass", id+".png")
	imgRel := filepath.Join("JPEGImages", id+".png")
	annRel := filepath.Join("Annotations", id+".xml")
	cases := []struct {
		name  string
		setup func(dir string)
		want  []string
	}{
		{"mask size differs", func(dir string) { WriteMaskPNG(filepath.Join(dir, maskRel), NewMask(10, 12)) }, []string{maskRel, imgRel, "12×10"}},
		{"label above class count", func(dir string) {
			m := NewMask(48, 48)
			m.Set(3, 4, 9)
			WriteMaskPNG(filepath.Join(dir, maskRel), m)
		}, []string{maskRel, "label 9", "class count 7"}},
		{"corrupt mask", func(dir string) { os.WriteFile(filepath.Join(dir, maskRel), []byte("garbage"), 0o644) }, []string{maskRel}},
		{"missing image", func(dir string) { os.Remove(filepath.Join(dir, imgRel)) }, []string{id + ".jpg"}},
		{"corrupt image", func(dir string) { os.WriteFile(filepath.Join(dir, imgRel), []byte("\x89PNG"), 0o644) }, []string{imgRel}},
		{"corrupt annotation", func(dir string) { os.WriteFile(filepath.Join(dir, annRel), []byte("<annotation><object>"), 0o644) }, []string{annRel}},
		{"unknown class", func(dir string) {
			os.WriteFile(filepath.Join(dir, annRel), []byte("<annotation><object><name>dragon</name></object></annotation>"), 0o644)
		}, []string{annRel, "dragon"}},
		{"bad number", func(dir string) {
			os.WriteFile(filepath.Join(dir, annRel), []byte("<annotation><object><name>circle</name><bndbox><xmin>a</xmin></bndbox></object></annotation>"), 0o644)
		}, []string{annRel, "xmin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := ExportVOC(dir, []Split{{"train", tr}}, ExportOptions{Classes: ShapesClasses}); err != nil {
				t.Fatal(err)
			}
			tc.setup(dir)
			v, err := OpenVOC(dir, "train", VOCOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Get(0)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := OpenVOC(t.TempDir(), "test", VOCOptions{}); err == nil || !strings.Contains(err.Error(), "test.txt") {
		t.Errorf("missing split list: %v", err)
	}
}

func TestCOCOErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "ann.json")
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	cases := []struct{ json, want string }{
		{`{"images":[`, "ann.json"},
		{`{"images":[{"id":1,"file_name":"a.png","width":4,"height":4}],"categories":[{"id":3,"name":"x"}],"annotations":[{"id":1,"image_id":2,"category_id":3,"bbox":[0,0,1,1]}]}`, "image_id 2"},
		{`{"images":[{"id":1,"file_name":"a.png","width":4,"height":4}],"categories":[{"id":3,"name":"x"}],"annotations":[{"id":1,"image_id":1,"category_id":4,"bbox":[0,0,1,1]}]}`, "category_id 4"},
		{`{"images":[{"id":1,"file_name":"a.png","width":4,"height":4}],"categories":[{"id":3,"name":"x"}],"annotations":[{"id":1,"image_id":1,"category_id":3,"bbox":[0,0,1]}]}`, "bbox"},
	}
	for _, tc := range cases {
		_, err := OpenCOCO(write(tc.json), dir, COCOOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want mention of %q", tc.json, err, tc.want)
		}
	}
	// Segmentation errors surface at Get, naming the annotation.
	img := NewImage(3, 4, 4)
	WritePNG(filepath.Join(dir, "a.png"), img)
	p := write(`{"images":[{"id":1,"file_name":"a.png","width":4,"height":4}],"categories":[{"id":3,"name":"x"}],"annotations":[{"id":9,"image_id":1,"category_id":3,"bbox":[0,0,1,1],"segmentation":{"size":[4,4],"counts":[3,2]}}]}`)
	c, err := OpenCOCO(p, dir, COCOOptions{Masks: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(0); err == nil || !strings.Contains(err.Error(), "annotation id 9") {
		t.Errorf("bad RLE: %v", err)
	}
	p = write(`{"images":[{"id":1,"file_name":"a.png","width":5,"height":4}],"categories":[],"annotations":[]}`)
	c, _ = OpenCOCO(p, dir, COCOOptions{})
	if _, err := c.Get(0); err == nil || !strings.Contains(err.Error(), "a.png") {
		t.Errorf("size mismatch: %v", err)
	}
}

func TestCOCOPolygonsAndOverlaps(t *testing.T) {
	dir := t.TempDir()
	WritePNG(filepath.Join(dir, "a.png"), NewImage(3, 6, 8))
	p := filepath.Join(dir, "ann.json")
	os.WriteFile(p, []byte(`{"images":[{"id":1,"file_name":"a.png","width":8,"height":6}],
	"categories":[{"id":7,"name":"a"},{"id":2,"name":"b"}],
	"annotations":[
	 {"id":1,"image_id":1,"category_id":7,"bbox":[0,0,4,4],"segmentation":[[0,0,4,0,4,4,0,4]]},
	 {"id":2,"image_id":1,"category_id":2,"bbox":[3,3,3,3],"segmentation":[[3,3,6,3,6,6,3,6]]},
	 {"id":3,"image_id":1,"category_id":2,"bbox":[7,0,1,1],"iscrowd":1,"segmentation":{"size":[6,8],"counts":[42,1,5]}}]}`), 0o644)
	c, err := OpenCOCO(p, dir, COCOOptions{Masks: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Classes(), ",") != "background,b,a" || c.CategoryID(2) != 7 {
		t.Fatalf("classes %v", c.Classes())
	}
	s, err := c.Get(0)
	if err != nil {
		t.Fatal(err)
	}
	// class a (7) -> 2, class b (2) -> 1; overlap pixel (3,3) -> Ignore; crowd pixel (7,0) -> Ignore.
	checks := map[[2]int]uint8{{0, 0}: 2, {3, 2}: 2, {3, 3}: Ignore, {5, 5}: 1, {7, 0}: Ignore, {7, 5}: 0}
	for xy, want := range checks {
		if got := s.Mask.At(xy[1], xy[0]); got != want {
			t.Errorf("pixel %v = %d, want %d", xy, got, want)
		}
	}
	if len(s.Boxes) != 3 || !s.Boxes[2].Difficult || s.Boxes[0].Class != 2 || s.Boxes[1] != (Box{X0: 3, Y0: 3, X1: 6, Y1: 6, Class: 1}) {
		t.Errorf("boxes %+v", s.Boxes)
	}
}
