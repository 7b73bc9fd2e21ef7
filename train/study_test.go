package train

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStudyTableAndChart(t *testing.T) {
	runs := []StudyRun{
		{K: 1, BR: true, Upsampler: "bilinear", Seed: 0, MIoU: 0.5},
		{K: 1, BR: true, Upsampler: "bilinear", Seed: 1, MIoU: 0.6},
		{K: 7, BR: true, Upsampler: "bilinear", Seed: 0, MIoU: 0.7},
		{K: 7, BR: true, Upsampler: "bilinear", Seed: 1, MIoU: 0.7},
		{K: 1, BR: false, Upsampler: "bilinear", Seed: 0, MIoU: 0.4},
		{K: 1, BR: false, Upsampler: "bilinear", Seed: 1, MIoU: 0.4},
	}
	tab := StudyTable(runs)
	for _, want := range []string{"| decoder | k = 1 | k = 7 |", "| bilinear, BR | 0.550 ± 0.071 | 0.700 ± 0.000 |", "| bilinear, no BR | 0.400 ± 0.000 | |", "over 2 seed(s) per cell"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	path := filepath.Join(t.TempDir(), "study.png")
	if err := PlotStudy(path, runs); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("chart not written: %v", err)
	}
}

// A study resumes: the second call reads the finished runs back.
func TestRunStudyReusesFinishedRuns(t *testing.T) {
	base := tinyConfig(t.TempDir())
	base.Epochs = 1
	base.WarmupEpochs = 0
	s := Study{Base: base, Ks: []int{1, 3}, BR: []bool{true}, Upsamplers: []string{"bilinear"}, Seeds: []uint64{0}}
	first, err := RunStudy(context.Background(), s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	second, err := RunStudy(context.Background(), s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || len(second) != 2 || first[0] != second[0] || first[1] != second[1] {
		t.Errorf("first %+v, second %+v", first, second)
	}
}

// An interrupted study, run again, keeps the finished setting, resumes the interrupted
// one from its checkpoint and ends exactly where an uninterrupted study ends.
func TestRunStudyResumesInterruptedSetting(t *testing.T) {
	base := tinyConfig(t.TempDir())
	base.Epochs, base.WarmupEpochs = 2, 0
	s := Study{Base: base, Ks: []int{1, 3}, BR: []bool{true}, Upsamplers: []string{"bilinear"}, Seeds: []uint64{0}}
	straight, err := RunStudy(context.Background(), s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s.Base.Out = t.TempDir()
	s.interruptAfter = 5 // mid second epoch of the first setting
	_, err = RunStudy(context.Background(), s, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("interrupted study returned %v", err)
	}
	var log strings.Builder
	resumed, err := RunStudy(context.Background(), s, &log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "resuming from") {
		t.Errorf("no resume in the log:\n%s", log.String())
	}
	for i := range straight {
		a, b := straight[i], resumed[i]
		a.Seconds, b.Seconds = 0, 0
		if a != b {
			t.Errorf("setting %d: straight %+v, resumed %+v", i, a, b)
		}
	}
}
