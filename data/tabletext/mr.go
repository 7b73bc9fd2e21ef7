// Package tabletext is a built-in table-to-text dataset in the spirit of the E2E NLG
// challenge (Novikova et al. 2017): meaning representations (MRs) describing a venue —
//
//	name[The Mill], eatType[pub], food[Italian], area[riverside], customer rating[high], near[Café Sicilia]
//
// — paired with reference sentences written by a seeded realiser that knows several
// phrasings per attribute and several sentence plans, and a generic English-like text
// corpus for pre-training a language model first (same vocabulary, not the MR→sentence
// task). Everything is generated deterministically from a seed; nothing is read from
// disk.
//
// The splits follow E2E's design: the test (and validation) MRs use attribute
// combinations — which attributes an MR has — that never occur in training, and each
// test MR has several references, for multi-reference corpus BLEU. Slot coverage
// (Realised, Covered, SlotCoverage) checks which MR values a generated sentence
// mentions, the inverse of the "slot error" of E2E papers.
//
// The attributes and their values are E2E's: name, eatType, food, priceRange,
// customer rating, area, familyFriendly, near.
package tabletext

import (
	"fmt"
	"slices"
	"strings"
)

// Attributes are E2E's eight attributes in the order an MR lists them.
var Attributes = []string{"name", "eatType", "food", "priceRange", "customer rating", "area", "familyFriendly", "near"}

// Values are the values of each attribute but name and near (see Names, NearNames):
// E2E's.
var Values = map[string][]string{
	"eatType":         {"pub", "coffee shop", "restaurant"},
	"food":            {"Chinese", "English", "Fast food", "French", "Indian", "Italian", "Japanese"},
	"priceRange":      {"cheap", "moderate", "high", "less than £20", "£20-25", "more than £30"},
	"customer rating": {"low", "average", "high", "1 out of 5", "3 out of 5", "5 out of 5"},
	"area":            {"city centre", "riverside"},
	"familyFriendly":  {"yes", "no"},
}

// Names are the venue names (the name attribute), E2E's.
var Names = []string{
	"Alimentum", "Aromi", "Bibimbap House", "Blue Spice", "Browns Cambridge", "Clowns", "Cocum",
	"Cotto", "Fitzbillies", "Giraffe", "Green Man", "Loch Fyne", "Midsummer House", "Strada",
	"Taste of Cambridge", "The Cambridge Blue", "The Cricketers", "The Dumpling Tree", "The Eagle",
	"The Golden Curry", "The Golden Palace", "The Mill", "The Olive Grove", "The Phoenix",
	"The Plough", "The Punter", "The Rice Boat", "The Twenty Two", "The Vaults", "The Waterman",
	"Travellers Rest Beefeater", "Wildwood", "Zizzi",
}

// NearNames are the landmarks of the near attribute, E2E's (none is also a Name).
var NearNames = []string{
	"All Bar One", "Avalon", "Burger King", "Café Adriatic", "Café Brazil", "Café Rouge",
	"Café Sicilia", "Clare Hall", "Crowne Plaza Hotel", "Express by Holiday Inn", "Ranch",
	"Rainbow Vegetarian Café", "Raja Indian Cuisine", "The Bakers", "The Portland Arms",
	"The Sorrento", "Yippee Noodle Bar",
}

// Slot is one attribute and its value.
type Slot struct {
	Attr, Value string
}

// MR is a meaning representation: its slots in the order of Attributes, name first,
// each attribute at most once.
type MR []Slot

// String writes the MR in E2E's format: "name[The Mill], eatType[pub], …".
func (m MR) String() string {
	parts := make([]string, len(m))
	for i, s := range m {
		parts[i] = s.Attr + "[" + s.Value + "]"
	}
	return strings.Join(parts, ", ")
}

// Get returns the value of attribute attr and whether the MR has it.
func (m MR) Get(attr string) (string, bool) {
	for _, s := range m {
		if s.Attr == attr {
			return s.Value, true
		}
	}
	return "", false
}

// Combination is the MR's set of attributes, as a string such as
// "name,eatType,food,area": the unit that the splits hold out.
func (m MR) Combination() string {
	attrs := make([]string, len(m))
	for i, s := range m {
		attrs[i] = s.Attr
	}
	return strings.Join(attrs, ",")
}

// attrIndex is an attribute's position in Attributes, or −1.
func attrIndex(attr string) int { return slices.Index(Attributes, attr) }

// ParseMR reads an MR in E2E's format, "attr[value], attr[value], …" (spaces around the
// commas optional), and returns it in canonical order. Every attribute must be one of
// Attributes, given once, with a non-empty value; name must be present. Values are not
// restricted to the built-in lists. Errors say which part is wrong.
func ParseMR(s string) (MR, error) {
	var m MR
	seen := map[string]bool{}
	rest := strings.TrimSpace(s)
	for rest != "" {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			return nil, fmt.Errorf("tabletext: MR %q: %q has no [value]", s, rest)
		}
		attr := strings.TrimSpace(rest[:open])
		end := strings.IndexByte(rest[open:], ']')
		if end < 0 {
			return nil, fmt.Errorf("tabletext: MR %q: attribute %q: missing ]", s, attr)
		}
		value := strings.TrimSpace(rest[open+1 : open+end])
		if attrIndex(attr) < 0 {
			return nil, fmt.Errorf("tabletext: MR %q: unknown attribute %q (want one of %s)", s, attr, strings.Join(Attributes, ", "))
		}
		if seen[attr] {
			return nil, fmt.Errorf("tabletext: MR %q: attribute %q given twice", s, attr)
		}
		if value == "" {
			return nil, fmt.Errorf("tabletext: MR %q: attribute %q has an empty value", s, attr)
		}
		seen[attr] = true
		m = append(m, Slot{attr, value})
		rest = strings.TrimSpace(rest[open+end+1:])
		if rest != "" {
			if rest[0] != ',' {
				return nil, fmt.Errorf("tabletext: MR %q: expected a comma before %q", s, rest)
			}
			rest = strings.TrimSpace(rest[1:])
			if rest == "" {
				return nil, fmt.Errorf("tabletext: MR %q: trailing comma", s)
			}
		}
	}
	if !seen["name"] {
		return nil, fmt.Errorf("tabletext: MR %q: no name attribute", s)
	}
	slices.SortStableFunc(m, func(a, b Slot) int { return attrIndex(a.Attr) - attrIndex(b.Attr) })
	return m, nil
}
