package augment

import "testing"

// FuzzParse: any spec string parses to a pipeline or an error that quotes
// the bad part, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"flip,crop:size=96x96,random-erasing:p=0.5:labels=ignore",
		"random-erasing:p=0.5:scale=0.02-0.33:ratio=0.3-3.3:fill=random:target=both:attempts=10",
		"random-erasing-paper",
		"crop:size=100000x100000",
		"scale:range=NaN-Inf",
		"::,,=:=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, _ = Parse(spec)
	})
}
