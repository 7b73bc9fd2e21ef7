package tabletext

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Config sizes the dataset. The zero value of a field means its default.
type Config struct {
	// Seed drives everything: the held-out combinations, the MRs and the references.
	Seed uint64
	// Train is the number of training MRs (default 1200); each has TrainRefs
	// references (default 2), so there are Train·TrainRefs training pairs.
	Train, TrainRefs int
	// Validation and Test are the numbers of MRs of those splits (default 60 and 120);
	// each has EvalRefs references (default 8), as E2E's test MRs have several.
	Validation, Test, EvalRefs int
	// HeldOut is the number of attribute combinations reserved for the test split
	// (default 16); half as many (at least 1) are reserved for validation. Training
	// uses the remaining combinations only.
	HeldOut int
	// MinAttrs and MaxAttrs bound the number of attributes besides name (E2E: 2…7;
	// the defaults).
	MinAttrs, MaxAttrs int
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Train, 1200)
	def(&c.TrainRefs, 2)
	def(&c.Validation, 60)
	def(&c.Test, 120)
	def(&c.EvalRefs, 8)
	def(&c.HeldOut, 16)
	def(&c.MinAttrs, 2)
	def(&c.MaxAttrs, 7)
	return c
}

// Example is one MR and its references.
type Example struct {
	MR   MR
	Refs []string
}

// Dataset is the three splits and the attribute combinations each uses (see
// MR.Combination); the validation and test combinations never occur in training, nor
// in each other.
type Dataset struct {
	Config                             Config
	Train, Validation, Test            []Example
	TrainCombos, ValCombos, TestCombos []string
}

// others are the attributes besides name.
var others = Attributes[1:]

// Generate builds the dataset for cfg (defaults filled in). Errors are for sizes out
// of range.
func Generate(cfg Config) (*Dataset, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Train < 1 || cfg.TrainRefs < 1 || cfg.Validation < 0 || cfg.Test < 0 || cfg.EvalRefs < 1:
		return nil, fmt.Errorf("tabletext: sizes train %d×%d, validation %d, test %d, refs %d: want positive (validation and test may be 0)",
			cfg.Train, cfg.TrainRefs, cfg.Validation, cfg.Test, cfg.EvalRefs)
	case cfg.MinAttrs < 1 || cfg.MaxAttrs > len(others) || cfg.MinAttrs > cfg.MaxAttrs:
		return nil, fmt.Errorf("tabletext: attributes per MR %d…%d, want within 1…%d", cfg.MinAttrs, cfg.MaxAttrs, len(others))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7ab1e7e47))
	// Every subset of the other attributes with a size in range, in a fixed order.
	var combos [][]string
	for mask := 1; mask < 1<<len(others); mask++ {
		var set []string
		for i, a := range others {
			if mask&(1<<i) != 0 {
				set = append(set, a)
			}
		}
		if len(set) >= cfg.MinAttrs && len(set) <= cfg.MaxAttrs {
			combos = append(combos, set)
		}
	}
	nVal := max(cfg.HeldOut/2, 1)
	if cfg.HeldOut < 1 || cfg.HeldOut+nVal >= len(combos) {
		return nil, fmt.Errorf("tabletext: %d held-out combinations (+%d for validation) of %d: want at least 1 and fewer than all", cfg.HeldOut, nVal, len(combos))
	}
	// Hold out only combinations of 3 or more attributes when there are enough, so the
	// held-out MRs are compositions of attributes seen together in training.
	order := rng.Perm(len(combos))
	var big, small []int
	for _, i := range order {
		if len(combos[i]) >= 3 {
			big = append(big, i)
		} else {
			small = append(small, i)
		}
	}
	if len(big) < cfg.HeldOut+nVal {
		big = append(big, small...)
		small = nil
	}
	testIdx, valIdx := big[:cfg.HeldOut], big[cfg.HeldOut:cfg.HeldOut+nVal]
	trainIdx := append(slices.Clone(big[cfg.HeldOut+nVal:]), small...)
	slices.Sort(trainIdx)
	pickCombos := func(idx []int) [][]string {
		out := make([][]string, len(idx))
		for i, j := range idx {
			out[i] = combos[j]
		}
		return out
	}
	d := &Dataset{Config: cfg}
	seen := map[string]bool{}
	d.Train, d.TrainCombos = split(rng, pickCombos(trainIdx), cfg.Train, cfg.TrainRefs, seen)
	d.Validation, d.ValCombos = split(rng, pickCombos(valIdx), cfg.Validation, cfg.EvalRefs, seen)
	d.Test, d.TestCombos = split(rng, pickCombos(testIdx), cfg.Test, cfg.EvalRefs, seen)
	return d, nil
}

// split draws n distinct MRs (not in seen) over the combinations, cycling through them
// so each is used about equally, each MR with refs references (distinct when the
// realiser allows).
func split(rng *rand.Rand, combos [][]string, n, refs int, seen map[string]bool) ([]Example, []string) {
	names := make([]string, len(combos))
	for i, c := range combos {
		names[i] = "name," + strings.Join(c, ",")
	}
	var out []Example
	for i := 0; len(out) < n && i < 100*n+100; i++ {
		mr := RandomMR(rng, combos[i%len(combos)])
		key := mr.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		ex := Example{MR: mr}
		have := map[string]bool{}
		for try := 0; len(ex.Refs) < refs && try < 20*refs; try++ {
			r := Realise(mr, rng)
			if !have[r] {
				have[r] = true
				ex.Refs = append(ex.Refs, r)
			}
		}
		out = append(out, ex)
	}
	return out, names
}

// RandomMR draws an MR with a random name and a random value for each attribute of
// attrs (besides name), from the built-in lists.
func RandomMR(rng *rand.Rand, attrs []string) MR {
	mr := MR{{"name", Names[rng.IntN(len(Names))]}}
	for _, a := range others {
		if !slices.Contains(attrs, a) {
			continue
		}
		var v string
		if a == "near" {
			v = NearNames[rng.IntN(len(NearNames))]
		} else {
			vals := Values[a]
			v = vals[rng.IntN(len(vals))]
		}
		mr = append(mr, Slot{a, v})
	}
	return mr
}

// Pairs flattens examples into (MR, reference) pairs, one per reference, in order.
func Pairs(examples []Example) (mrs []MR, refs []string) {
	for _, ex := range examples {
		for _, r := range ex.Refs {
			mrs = append(mrs, ex.MR)
			refs = append(refs, r)
		}
	}
	return mrs, refs
}
