package golden

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goldenPackages are the packages whose golden and oracle tests must compare
// through this package (directly, through tensortest.CheckTensor, or through
// a package helper that wraps them and has its own NaN test).
var goldenPackages = []string{
	"tensor", "nn", "nn/functional", "optim", "augment", "internal/cpu",
	"stochastic", "peft", "models/gcn", "models/sam", "models/lm",
}

var (
	otherReportEnv = regexp.MustCompile(`\b([A-Z]+_)+GOLDEN_REPORT\b`)
	oldMeasures    = regexp.MustCompile(`\bMax(Scaled)?RelErr\(`)
)

// TestPackagesUseTheComparator keeps the one comparator from regressing
// silently: each package's tests use it, none calls the older error figures
// (MaxRelErr, MaxScaledRelErr with a floor of its own choice), and no test
// reads a report variable other than FOVEA_GOLDEN_REPORT.
func TestPackagesUseTheComparator(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Skipf("repository root not found: %v", err)
	}
	for _, pkg := range goldenPackages {
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*_test.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("%s: no test files (%v)", pkg, err)
			continue
		}
		uses := false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src := string(b)
			uses = uses || strings.Contains(src, "tensortest/golden\"") || strings.Contains(src, "tensortest.CheckTensor(")
			if m := oldMeasures.FindString(src); m != "" {
				t.Errorf("%s calls %s: golden and oracle comparisons use golden.Check or tensortest.CheckTensor", f, m)
			}
			for _, m := range otherReportEnv.FindAllString(src, -1) {
				if m != ReportEnv {
					t.Errorf("%s reads %s: the one report switch is %s", f, m, ReportEnv)
				}
			}
		}
		if !uses {
			t.Errorf("%s: no test uses package golden or tensortest.CheckTensor", pkg)
		}
	}
}
