package augment

import (
	"strings"
	"testing"
)

// Parse refuses non-finite numbers, probabilities outside [0, 1], negative
// jitter and sizes or scales that would exhaust memory, quoting the item.
func TestParseRefusesBadValues(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"flip:p=2", "probability"},
		{"flip:p=-0.1", "probability"},
		{"flip:p=NaN", "finite"},
		{"scale:min=NaN", "finite"},
		{"scale:max=Inf", "finite"},
		{"scale:min=100:max=100", "MaxScale"},
		{"jitter:b=-1", "b=-1"},
		{"jitter:h=0.7", "[0, 0.5]"},
		{"crop:size=100000x100000", "MaxPixels"},
		{"resize:size=1000000", "MaxPixels"},
		{"random-erasing:p=1.5", "0 <= p <= 1"},
		{"random-erasing:scale=0.1-Inf", "finite"},
		{"random-erasing:fill=NaN", "fill"},
		{"random-erasing:attempts=1e18", "attempts"},
	} {
		_, err := Parse(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.spec) {
			t.Errorf("Parse(%q) = %v, want an error quoting it and %q", c.spec, err, c.want)
		}
	}
	if _, err := Parse("flip:p=1,scale:min=0.5:max=2,jitter:b=0:h=0.5,crop:size=64x64,random-erasing:p=0"); err != nil {
		t.Errorf("a valid spec: %v", err)
	}
}
