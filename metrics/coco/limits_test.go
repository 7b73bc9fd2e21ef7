package coco

import (
	"errors"
	"strings"
	"testing"
)

const limitsGT = `{"images":[{"id":1,"width":20,"height":20}],"categories":[{"id":1,"name":"a"}],
"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[1,1,5,5],"area":25,"iscrowd":0,"segmentation":[[1,1,6,1,6,6,1,6]]}]}`

// Bad JSON comes back as a *SyntaxError with the file, line and column;
// nesting deeper than MaxJSONDepth is refused without recursing.
func TestSyntaxError(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"truncated", limitsGT[:40], "line 1"},
		{"deep", `{"info":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, "nested more than 1000 deep"},
		{"second line", "{\"images\":\n  [tru]}", "line 2"},
	} {
		_, err := ParseDataset("gt.json", []byte(c.data))
		var se *SyntaxError
		if !errors.As(err, &se) || se.File != "gt.json" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (%T), want a *SyntaxError naming gt.json and %q", c.name, err, err, c.want)
		}
	}
}

// Boxes and polygons that pycocotools would take but that make no sense are
// refused, naming the result.
func TestResultChecks(t *testing.T) {
	gt, err := ParseDataset("gt.json", []byte(limitsGT))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, res, want string }{
		{"negative width", `[{"image_id":1,"category_id":1,"bbox":[1,1,-5,5],"score":1}]`, "negative width"},
		{"infinite area", `[{"image_id":1,"category_id":1,"bbox":[1,1,1e300,1e300],"score":1}]`, "infinite area"},
		{"odd polygon", `[{"image_id":1,"category_id":1,"segmentation":[[1,1,6,1,6]],"score":1}]`, "even count"},
		{"huge polygon", `[{"image_id":1,"category_id":1,"segmentation":[[1,1,1e12,1,6,6]],"score":1}]`, "MaxPolygonLength"},
	} {
		_, err := ParseResults("res.json", []byte(c.res), gt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "res.json") {
			t.Errorf("%s: %v, want an error naming res.json and %q", c.name, err, c.want)
		}
	}
	// A box partly outside the image (negative x, y) is legal.
	if _, err := ParseResults("res.json", []byte(`[{"image_id":1,"category_id":1,"bbox":[-2,-2,5,5],"score":1}]`), gt); err != nil {
		t.Errorf("a box partly outside the image: %v", err)
	}
}
