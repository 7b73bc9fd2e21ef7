package augment

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse("flip, crop:size=96x64 ,scale:min=0.8:max=1.2,jitter,random-erasing:p=1:fill=random:labels=ignore:target=both,random-erasing-paper:fill=0.1/0.2/0.3")
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 6 {
		t.Fatalf("%d transforms", len(p))
	}
	if c := p[1].(RandomCrop); c.H != 96 || c.W != 64 {
		t.Fatalf("crop %+v", c)
	}
	e := p[4].(RandomErasing)
	if e.P != 1 || e.Fill.Kind != FillNormal || e.Labels != IgnoreLabels || e.Target != EraseImageAndObjects || !e.LogRatio {
		t.Fatalf("erasing %+v", e)
	}
	if pe := p[5].(RandomErasing); pe.LogRatio || pe.Scale[1] != 0.4 || len(pe.Fill.Values) != 3 {
		t.Fatalf("paper erasing %+v", pe)
	}
	for _, bad := range []string{"blur", "flip:p", "flip:q=1", "crop", "crop:size=0x3", "scale:min=2:max=1",
		"random-erasing:p=2", "random-erasing:fill=pink", "random-erasing:target=sky", "random-erasing:scale=a-b"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), strings.Split(bad, ":")[0]) {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}
