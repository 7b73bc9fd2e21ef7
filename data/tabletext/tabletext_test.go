package tabletext

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseMR(t *testing.T) {
	s := "name[The Mill], eatType[pub], food[Italian], area[riverside], customer rating[high], near[Café Sicilia]"
	mr, err := ParseMR(s)
	if err != nil {
		t.Fatal(err)
	}
	// Canonical order: customer rating before area.
	want := "name[The Mill], eatType[pub], food[Italian], customer rating[high], area[riverside], near[Café Sicilia]"
	if got := mr.String(); got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	if v, ok := mr.Get("near"); !ok || v != "Café Sicilia" {
		t.Errorf("Get near = %q, %v", v, ok)
	}
	if c := mr.Combination(); c != "name,eatType,food,customer rating,area,near" {
		t.Errorf("Combination %q", c)
	}
	again, err := ParseMR(mr.String())
	if err != nil || !reflect.DeepEqual(again, mr) {
		t.Errorf("round trip: %v, %v", again, err)
	}
	for _, bad := range []string{
		"", "eatType[pub]", "name[A], name[B]", "name[A] eatType[pub]", "name[A], colour[red]",
		"name[A], eatType[]", "name[A", "name[A],", "name",
	} {
		if _, err := ParseMR(bad); err == nil {
			t.Errorf("ParseMR(%q): no error", bad)
		} else if !strings.Contains(err.Error(), "tabletext: MR") {
			t.Errorf("ParseMR(%q): error %q does not name the MR", bad, err)
		}
	}
}

func TestGenerateSplits(t *testing.T) {
	cfg := Config{Seed: 3, Train: 300, Validation: 30, Test: 40}
	d, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Train) != 300 || len(d.Validation) != 30 || len(d.Test) != 40 {
		t.Fatalf("sizes %d %d %d", len(d.Train), len(d.Validation), len(d.Test))
	}
	if len(d.TestCombos) != 16 || len(d.ValCombos) != 8 {
		t.Errorf("held-out combinations: test %d, validation %d", len(d.TestCombos), len(d.ValCombos))
	}
	train := map[string]bool{}
	for _, c := range d.TrainCombos {
		train[c] = true
	}
	for _, c := range append(slices.Clone(d.ValCombos), d.TestCombos...) {
		if train[c] {
			t.Errorf("held-out combination %s is in training", c)
		}
	}
	for _, c := range d.TestCombos {
		if slices.Contains(d.ValCombos, c) {
			t.Errorf("combination %s in both validation and test", c)
		}
	}
	seenMR := map[string]bool{}
	check := func(split string, exs []Example, refs int, combos []string) {
		for _, ex := range exs {
			if !slices.Contains(combos, ex.MR.Combination()) {
				t.Errorf("%s MR %s: combination not among the split's", split, ex.MR)
			}
			if seenMR[ex.MR.String()] {
				t.Errorf("%s MR %s occurs twice", split, ex.MR)
			}
			seenMR[ex.MR.String()] = true
			if len(ex.Refs) != refs {
				t.Errorf("%s MR %s: %d references, want %d", split, ex.MR, len(ex.Refs), refs)
			}
			// Every reference mentions every slot, and the MR parses back.
			for _, r := range ex.Refs {
				if got := Realised(ex.MR, r); slices.Contains(got, false) {
					t.Errorf("%s reference %q of %s: realised %v", split, r, ex.MR, got)
				}
			}
			if back, err := ParseMR(ex.MR.String()); err != nil || !reflect.DeepEqual(back, ex.MR) {
				t.Errorf("ParseMR(%s) = %v, %v", ex.MR, back, err)
			}
		}
	}
	check("train", d.Train, 2, d.TrainCombos)
	check("validation", d.Validation, 8, d.ValCombos)
	check("test", d.Test, 8, d.TestCombos)

	again, _ := Generate(cfg)
	if !reflect.DeepEqual(again, d) {
		t.Error("same seed, different dataset")
	}
	other, _ := Generate(Config{Seed: 4, Train: 300, Validation: 30, Test: 40})
	if reflect.DeepEqual(other.Test, d.Test) {
		t.Error("another seed gives the same test split")
	}
	mrs, refs := Pairs(d.Train)
	if len(mrs) != 600 || len(refs) != 600 || mrs[1].String() != d.Train[0].MR.String() {
		t.Errorf("Pairs: %d, %d", len(mrs), len(refs))
	}
	if _, err := Generate(Config{HeldOut: 200}); err == nil {
		t.Error("200 held-out combinations accepted")
	}
	if _, err := Generate(Config{MinAttrs: 5, MaxAttrs: 3}); err == nil {
		t.Error("MinAttrs > MaxAttrs accepted")
	}
}

// TestRealiseVariety checks that the references of one MR vary in phrasing and order.
func TestRealiseVariety(t *testing.T) {
	mr, _ := ParseMR("name[The Mill], eatType[pub], food[Italian], priceRange[cheap], area[riverside], familyFriendly[no], near[Café Sicilia]")
	rng := rand.New(rand.NewPCG(1, 1))
	seen := map[string]bool{}
	starts := map[string]bool{}
	for range 200 {
		r := Realise(mr, rng)
		seen[r] = true
		starts[strings.Fields(r)[0]] = true
		if !Covered(mr, r) {
			t.Errorf("%q does not cover %s: %v", r, mr, Realised(mr, r))
		}
	}
	if len(seen) < 150 || len(starts) < 3 {
		t.Errorf("%d distinct references, %d first words", len(seen), len(starts))
	}
}

func TestRealised(t *testing.T) {
	mr, _ := ParseMR("name[The Mill], food[Indian], priceRange[high], customer rating[low], area[city centre], familyFriendly[yes], near[Raja Indian Cuisine]")
	for _, c := range []struct {
		text string
		want []bool // name, food, price, rating, area, family, near
	}{
		{"The Mill is an expensive, family-friendly Indian place with a low rating in the city centre near Raja Indian Cuisine.",
			[]bool{true, true, true, true, true, true, true}},
		// Indian only inside the landmark's name; "inexpensive" is not "expensive";
		// "not family-friendly" is not family-friendly; "highly rated" is not low.
		{"The Mill is an inexpensive place near Raja Indian Cuisine. It is not family-friendly and highly rated.",
			[]bool{true, false, false, false, false, false, true}},
		// Case-insensitive, other phrasings, words must be whole.
		{"the mill: high prices, low customer rating, centre of the city, kid friendly, INDIAN menu.",
			[]bool{true, true, true, true, true, true, false}},
		{"The Millpond is expensiveish.", []bool{false, false, false, false, false, false, false}},
	} {
		if got := Realised(mr, c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Realised(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	no, _ := ParseMR("name[Zizzi], familyFriendly[no], priceRange[£20-25], customer rating[5 out of 5]")
	if got := Realised(no, "Zizzi is adults only, £20-25, rated 5 out of 5."); !reflect.DeepEqual(got, []bool{true, true, true, true}) {
		t.Errorf("numeric values and adults only: %v", got)
	}
	if got := Realised(no, "Zizzi is family friendly, rated 1 out of 5, costs £20."); !reflect.DeepEqual(got, []bool{true, false, false, false}) {
		t.Errorf("wrong values: %v", got)
	}
	exact, slots := SlotCoverage([]MR{mr, no}, []string{
		"The Mill is an expensive, family-friendly Indian place with a low rating in the city centre near Raja Indian Cuisine.",
		"Zizzi is adults only.",
	})
	if exact != 0.5 || slots != 9.0/11 {
		t.Errorf("SlotCoverage = %v, %v; want 0.5, %v", exact, slots, 9.0/11)
	}
}

func TestCorpus(t *testing.T) {
	a, b := Corpus(5, 50), Corpus(5, 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different corpus")
	}
	if reflect.DeepEqual(a, Corpus(6, 50)) {
		t.Error("another seed, same corpus")
	}
	text := strings.Join(a, "\n")
	if strings.ContainsAny(text, "[]") {
		t.Error("the corpus contains MR brackets")
	}
	// The vocabulary overlaps the task's.
	for _, w := range []string{"cheap", "river", "Italian", "near", "rating"} {
		if !strings.Contains(text, w) {
			t.Errorf("corpus lacks %q", w)
		}
	}
	for _, p := range a {
		if n := strings.Count(p, "."); n < 3 || n > 7 {
			t.Errorf("paragraph of %d sentences: %q", n, p)
		}
	}
}
