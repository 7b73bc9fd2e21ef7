package tabletext

import (
	"math/rand/v2"
	"strings"
)

// The realiser writes an MR as one to three sentences. The first sentence introduces
// the venue — "{name} is a {adjectives} {head}{modifiers}.", "There is a … called
// {name}…", or an opening phrase ("Located in the city centre, …") — where the head is
// the eatType (or a neutral noun: place, venue, spot) and some attributes appear as
// adjectives ("cheap", "family-friendly", "Italian") or post-modifiers ("near Café
// Sicilia", "with a customer rating of 5 out of 5"). The attributes left over go into
// follow-up sentences of one or two predicates ("It serves Italian food and is located
// by the river."). Which attributes go where, their order and their phrasing are drawn
// from the generator; every phrasing of a value contains one of its surface forms
// (forms), which is what Realised looks for.

// adjectives of a value (empty: the value has no adjective form).
func adjectives(attr, v string) []string {
	switch attr {
	case "food":
		return []string{foodWord(v)}
	case "priceRange":
		switch v {
		case "cheap":
			return []string{"cheap", "inexpensive", "low-priced"}
		case "moderate":
			return []string{"moderately priced", "mid-priced"}
		case "high":
			return []string{"expensive", "high-priced", "pricey"}
		}
	case "customer rating":
		switch v {
		case "high":
			return []string{"highly rated"}
		case "low":
			return []string{"poorly rated", "low-rated"}
		case "average":
			return []string{"average-rated"}
		}
	case "familyFriendly":
		if v == "yes" {
			return []string{"family-friendly", "kid-friendly", "child-friendly"}
		}
		return []string{"adults-only"}
	}
	return nil
}

// modifiers are the phrases that follow the head noun ("pub near X").
func modifiers(attr, v string) []string {
	switch attr {
	case "food":
		f := foodWord(v)
		if f == "fast food" {
			return []string{"serving fast food", "that serves fast food", "offering fast food"}
		}
		return []string{"serving " + f + " food", "that serves " + f + " food", "offering " + f + " food"}
	case "priceRange":
		switch v {
		case "cheap":
			return []string{"with low prices", "with a cheap price range"}
		case "moderate":
			return []string{"with moderate prices", "with a moderate price range"}
		case "high":
			return []string{"with high prices", "with a high price range"}
		}
		return []string{"with prices " + v, "with a price range of " + v}
	case "customer rating":
		switch v {
		case "high", "low", "average":
			return []string{"with " + article(v) + " " + v + " customer rating", "with " + article(v) + " " + v + " rating"}
		}
		return []string{"with a customer rating of " + v, "rated " + v + " by customers", "with a rating of " + v}
	case "area":
		if v == "city centre" {
			return []string{"in the city centre", "in the centre of the city", "located in the city centre"}
		}
		return []string{"in the riverside area", "by the river", "on the riverside"}
	case "familyFriendly":
		if v == "yes" {
			return []string{"that welcomes families", "where children are welcome"}
		}
		return []string{"that is not family-friendly", "where children are not welcome"}
	case "near":
		return []string{"near " + v, "close to " + v, "not far from " + v}
	case "eatType":
		return nil
	}
	return nil
}

// predicates are verb phrases for follow-up sentences ("It {serves Italian food}.").
func predicates(attr, v string) []string {
	switch attr {
	case "eatType":
		return []string{"is " + article(v) + " " + v}
	case "food":
		f := foodWord(v)
		if f == "fast food" {
			return []string{"serves fast food", "offers fast food"}
		}
		return []string{"serves " + f + " food", "offers " + f + " food", "has " + article(f) + " " + f + " menu"}
	case "priceRange":
		switch v {
		case "cheap":
			return []string{"is cheap", "has low prices", "is inexpensive"}
		case "moderate":
			return []string{"is moderately priced", "has moderate prices"}
		case "high":
			return []string{"is expensive", "has high prices", "is in the high price range"}
		}
		return []string{"has a price range of " + v, "has prices " + v, "costs " + v + " per person"}
	case "customer rating":
		switch v {
		case "high", "low", "average":
			return []string{"has " + article(v) + " " + v + " customer rating", "is rated " + v + " by customers", "has " + article(v) + " " + v + " rating"}
		}
		return []string{"has a customer rating of " + v, "is rated " + v + " by customers", "has a rating of " + v}
	case "area":
		if v == "city centre" {
			return []string{"is in the city centre", "is located in the city centre", "is in the centre of the city"}
		}
		return []string{"is in the riverside area", "is located by the river", "is on the riverside"}
	case "familyFriendly":
		if v == "yes" {
			return []string{"is family-friendly", "is kid friendly", "welcomes families", "is child friendly"}
		}
		return []string{"is not family-friendly", "is not kid friendly", "is adults only", "is not child friendly"}
	case "near":
		return []string{"is near " + v, "is located close to " + v, "is not far from " + v}
	}
	return nil
}

// openings are phrases that may start the first sentence ("Near X, …").
func openings(attr, v string) []string {
	switch attr {
	case "area":
		if v == "city centre" {
			return []string{"Located in the city centre", "In the city centre"}
		}
		return []string{"Located by the river", "In the riverside area"}
	case "near":
		return []string{"Near " + v, "Close to " + v}
	}
	return nil
}

// foodWord is the food value as written inside a sentence.
func foodWord(v string) string {
	if v == "Fast food" {
		return "fast food"
	}
	return v
}

// article is "a" or "an" for the word w.
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiouAEIOU", rune(w[0])) {
		return "an"
	}
	return "a"
}

// neutralHeads replace the eatType when the MR has none (none of them is an eatType).
var neutralHeads = []string{"place", "venue", "spot"}

// subjects start a follow-up sentence; "{head}" and "{name}" are filled in.
var subjects = []string{"It", "It", "The {head}", "{name}", "This {head}"}

// Realise writes one reference sentence (one to three sentences of text) for mr, with
// all its slots, drawing the plan and phrasing from rng.
func Realise(mr MR, rng *rand.Rand) string {
	name, _ := mr.Get("name")
	var rest []Slot
	for _, s := range mr {
		if s.Attr != "name" {
			rest = append(rest, s)
		}
	}
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }

	head := pick(neutralHeads)
	if v, ok := mr.Get("eatType"); ok && rng.IntN(10) < 9 {
		head = v
		rest = removeAttr(rest, "eatType")
	}
	// Attributes for the first sentence: adjectives (at most 2, those that have one),
	// an opening (at most 1), modifiers (at most 2); the rest follow.
	var adjs []Slot
	var opening string
	var mods []string
	var later []Slot
	nFirst := rng.IntN(len(rest) + 1)
	for i, s := range rest {
		if i >= nFirst {
			later = append(later, s)
			continue
		}
		if a := adjectives(s.Attr, s.Value); a != nil && len(adjs) < 2 && rng.IntN(2) == 0 {
			adjs = append(adjs, s)
			continue
		}
		if o := openings(s.Attr, s.Value); o != nil && opening == "" && rng.IntN(4) == 0 {
			opening = pick(o)
			continue
		}
		if m := modifiers(s.Attr, s.Value); m != nil && len(mods) < 2 {
			mods = append(mods, pick(m))
			continue
		}
		later = append(later, s)
	}
	// Adjectives in English order: price, rating, family, then food next to the noun.
	var words []string
	for _, attr := range []string{"priceRange", "customer rating", "familyFriendly", "food"} {
		for _, s := range adjs {
			if s.Attr == attr {
				words = append(words, pick(adjectives(s.Attr, s.Value)))
			}
		}
	}
	np := strings.Join(append(words, head), " ")
	np = article(np) + " " + np
	if len(mods) > 0 {
		np += " " + strings.Join(mods, " ")
	}
	var first string
	switch {
	case opening != "":
		first = opening + ", " + name + " is " + np + "."
	case rng.IntN(3) == 0:
		first = "There is " + np + " called " + name + "."
		if rng.IntN(2) == 0 {
			first = "There is " + np + " named " + name + "."
		}
	default:
		first = name + " is " + np + "."
	}
	// A modifier with "that"/"where" already reads as a clause; keep the sentence as is.
	sentences := []string{first}
	for len(later) > 0 {
		n := 1
		if len(later) > 1 && rng.IntN(2) == 0 {
			n = 2
		}
		subj := strings.NewReplacer("{head}", head, "{name}", name).Replace(pick(subjects))
		ps := make([]string, n)
		for i := range n {
			ps[i] = pick(predicates(later[i].Attr, later[i].Value))
		}
		sentences = append(sentences, subj+" "+strings.Join(ps, " and ")+".")
		later = later[n:]
	}
	return strings.Join(sentences, " ")
}

func removeAttr(slots []Slot, attr string) []Slot {
	out := slots[:0:0]
	for _, s := range slots {
		if s.Attr != attr {
			out = append(out, s)
		}
	}
	return out
}
