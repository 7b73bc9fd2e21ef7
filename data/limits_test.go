package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngHeaderOnly is a PNG signature and an IHDR chunk claiming w×h RGB pixels.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)))
	b = append(b, "IHDR"...)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
}

// Sizes from a file's header are checked against MaxPixels before decoding,
// and raising MaxPixels lets the same file through.
func TestMaxPixels(t *testing.T) {
	if _, err := DecodeImage(bytes.NewReader(pngHeaderOnly(100000, 100000))); err == nil || !strings.Contains(err.Error(), "MaxPixels") {
		t.Errorf("a header claiming 100000×100000: %v, want a MaxPixels error", err)
	}
	if _, err := DecodeMask(bytes.NewReader(pngHeaderOnly(100000, 100000))); err == nil || !strings.Contains(err.Error(), "MaxPixels") {
		t.Errorf("a label map claiming 100000×100000: %v, want a MaxPixels error", err)
	}
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 32, 32)))
	defer func(old int64) { MaxPixels = old }(MaxPixels)
	MaxPixels = 1000
	if _, err := DecodeImage(bytes.NewReader(b.Bytes())); err == nil {
		t.Error("a 32×32 image with MaxPixels 1000: no error")
	}
	MaxPixels = 1024
	if _, err := DecodeImage(bytes.NewReader(b.Bytes())); err != nil {
		t.Errorf("a 32×32 image with MaxPixels 1024: %v", err)
	}
	if _, err := DecodeImage(bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty stream: %v", err)
	}
}

// COCO annotations with boxes, polygons or image sizes that would make
// rasterising take unbounded memory are refused with the file named.
func TestOpenCOCOLimits(t *testing.T) {
	dir := t.TempDir()
	const good = `{"images":[{"id":1,"file_name":"a.png","width":8,"height":8}],"categories":[{"id":1,"name":"a"}],
"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[1,1,3,3],"segmentation":[[1,1,4,1,4,4]]}]}`
	var img bytes.Buffer
	png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	os.WriteFile(filepath.Join(dir, "a.png"), img.Bytes(), 0o644)
	for _, c := range []struct{ name, from, to, want string }{
		{"good", "", "", ""},
		{"huge image", `"width":8,"height":8`, `"width":1000000,"height":1000000`, "MaxPixels"},
		{"inverted box", `[1,1,3,3]`, `[1,1,-3,3]`, "negative width"},
		{"huge polygon", `[[1,1,4,1,4,4]]`, `[[1,1,4e12,1,4,4]]`, "MaxPolygonLength"},
	} {
		p := filepath.Join(dir, "ann.json")
		os.WriteFile(p, []byte(strings.Replace(good, c.from, c.to, 1)), 0o644)
		d, err := OpenCOCO(p, dir, COCOOptions{Masks: true})
		if err == nil {
			_, err = d.Get(0)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "ann.json")):
			t.Errorf("%s: %v, want an error naming ann.json and %s", c.name, err, c.want)
		}
	}
}
