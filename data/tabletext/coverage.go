package tabletext

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// forms are the surface forms by which a value counts as mentioned, lower case. Every
// phrasing the realiser writes for a value contains one of its forms; a value whose
// forms are missing here is looked for as written (near, name, the numeric price and
// rating values).
var forms = map[string]map[string][]string{
	"priceRange": {
		"cheap":    {"cheap", "inexpensive", "low-priced", "low prices", "low price range"},
		"moderate": {"moderately priced", "moderate", "moderately", "mid-priced"},
		"high":     {"expensive", "high-priced", "pricey", "high prices", "high price range"},
	},
	"customer rating": {
		"high":    {"highly rated", "high customer rating", "high rating", "rated high", "rated highly"},
		"low":     {"poorly rated", "low-rated", "low customer rating", "low rating", "rated low"},
		"average": {"average-rated", "average customer rating", "average rating", "rated average"},
	},
	"area": {
		"city centre": {"city centre", "centre of the city", "city center"},
		"riverside":   {"riverside", "by the river", "river side"},
	},
	"familyFriendly": {
		"yes": {"family-friendly", "family friendly", "kid-friendly", "kid friendly", "child-friendly", "child friendly",
			"welcomes families", "children are welcome"},
		"no": {"adults-only", "adults only", "not family-friendly", "not family friendly", "not kid-friendly", "not kid friendly",
			"not child-friendly", "not child friendly", "children are not welcome", "non family-friendly", "not family oriented"},
	},
	"food": {
		"Fast food": {"fast food"},
	},
}

// valueForms returns attr's values with their forms: the built-in values of Values (or
// the MR's own value when it is not one of them) and their forms.
func valueForms(attr, own string) map[string][]string {
	out := map[string][]string{}
	vals := Values[attr]
	if !slices.Contains(vals, own) {
		vals = append(slices.Clone(vals), own)
	}
	for _, v := range vals {
		if f, ok := forms[attr][v]; ok {
			out[v] = f
		} else {
			out[v] = []string{strings.ToLower(v)}
		}
	}
	return out
}

// Realised reports, for each slot of mr, whether text mentions its value. Names
// (name, near) are looked for as written, case-insensitively; the other values by
// their surface forms ("cheap", "inexpensive", "low prices" for priceRange[cheap]),
// matched on word boundaries, longest first, after the venue names have been blanked
// out of the text (so "Raja Indian Cuisine" does not mention food[Indian]), so that
// "not family-friendly" counts for familyFriendly[no] and not for [yes]. A slot is
// realised when its value is among the values of that attribute the text mentions; a
// text that also mentions another value of the same attribute (both "cheap" and
// "expensive") still realises the slot — coverage measures omissions, as E2E's
// slot-error scripts do first.
func Realised(mr MR, text string) []bool {
	low := strings.ToLower(text)
	out := make([]bool, len(mr))
	// Names first, then blank every known venue name out.
	for i, s := range mr {
		if s.Attr == "name" || s.Attr == "near" {
			out[i] = containsWord(low, strings.ToLower(s.Value))
		}
	}
	blank := low
	var names []string
	names = append(names, Names...)
	names = append(names, NearNames...)
	for _, s := range mr {
		if s.Attr == "name" || s.Attr == "near" {
			names = append(names, s.Value)
		}
	}
	for _, n := range names {
		n = strings.ToLower(n)
		blank = strings.ReplaceAll(blank, n, strings.Repeat(" ", len(n)))
	}
	for i, s := range mr {
		if s.Attr == "name" || s.Attr == "near" {
			continue
		}
		out[i] = mentions(blank, valueForms(s.Attr, s.Value))[s.Value]
	}
	return out
}

// Covered reports whether text mentions every slot of mr.
func Covered(mr MR, text string) bool {
	for _, ok := range Realised(mr, text) {
		if !ok {
			return false
		}
	}
	return true
}

// SlotCoverage is the exact slot coverage of outputs: the fraction of outputs[i] that
// mention every slot of mrs[i] (Covered), and the fraction of all slots mentioned.
// It panics if the lengths differ; with no outputs both are 0.
func SlotCoverage(mrs []MR, outputs []string) (exact, slots float64) {
	if len(mrs) != len(outputs) {
		panic(fmt.Sprintf("tabletext.SlotCoverage: %d MRs and %d outputs", len(mrs), len(outputs)))
	}
	var full, hit, total int
	for i, mr := range mrs {
		all := true
		for _, ok := range Realised(mr, outputs[i]) {
			total++
			if ok {
				hit++
			} else {
				all = false
			}
		}
		if all {
			full++
		}
	}
	if len(mrs) == 0 {
		return 0, 0
	}
	return float64(full) / float64(len(mrs)), float64(hit) / float64(total)
}

// mentions scans text for the forms of each value, longest match first at each
// position, on word boundaries, and returns the set of values found.
func mentions(text string, vf map[string][]string) map[string]bool {
	type form struct{ s, value string }
	var all []form
	for v, fs := range vf {
		for _, f := range fs {
			all = append(all, form{f, v})
		}
	}
	// Longest first; ties by text so the result does not depend on map order.
	slices.SortFunc(all, func(a, b form) int {
		if len(a.s) != len(b.s) {
			return len(b.s) - len(a.s)
		}
		return strings.Compare(a.s+"\x00"+a.value, b.s+"\x00"+b.value)
	})
	found := map[string]bool{}
	for i := 0; i < len(text); {
		if i > 0 && isWordByte(text, i-1) {
			i++
			continue
		}
		matched := 0
		for _, f := range all {
			if strings.HasPrefix(text[i:], f.s) && !startsWord(text, i+len(f.s)) {
				found[f.value] = true
				matched = len(f.s)
				break
			}
		}
		if matched > 0 {
			i += matched
		} else {
			i++
		}
	}
	return found
}

// containsWord reports whether sub occurs in s on word boundaries.
func containsWord(s, sub string) bool {
	if sub == "" {
		return false
	}
	for off := 0; ; {
		j := strings.Index(s[off:], sub)
		if j < 0 {
			return false
		}
		j += off
		if (j == 0 || !isWordByte(s, j-1)) && !startsWord(s, j+len(sub)) {
			return true
		}
		off = j + 1
	}
}

// isWordByte reports whether the character ending at byte i of s is a letter or digit.
func isWordByte(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i+1])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// startsWord reports whether a letter or digit starts at byte i of s.
func startsWord(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
