package tabletext

import (
	"math/rand/v2"
	"strings"
)

// The generic corpus: short English-like paragraphs from a small grammar about people,
// food, towns, rivers, prices and opinions. Its vocabulary overlaps the table-to-text
// task's — the venue names and landmarks, the foods, "cheap", "expensive", "family",
// "children", "customers", "rating", "river", "city centre", "near", "serves" — so a
// model pre-trained on it knows the words and how to copy names, but it never pairs an
// MR with its description: there are no brackets and no sentence lists a venue's
// attributes.

var (
	people   = []string{"Anna", "Ben", "Clara", "David", "Emma", "Frank", "Grace", "Henry", "Isla", "Jack", "Kate", "Liam", "Mia", "Noah", "Olivia", "Peter", "Ruth", "Sam", "Tom", "Zoe"}
	groups   = []string{"my friends", "the family", "the children", "our neighbours", "the students", "a group of tourists", "the customers", "two old friends", "the staff", "the visitors"}
	places   = []string{"the river", "the riverside", "the city centre", "the market", "the station", "the park", "the museum", "the old bridge", "the college", "the library", "the centre of the city", "the town hall", "the harbour"}
	times    = []string{"on Monday", "on Friday evening", "last week", "after work", "in the morning", "at lunchtime", "every Sunday", "yesterday", "in the summer", "late at night", "before the concert", "after the match"}
	foodsG   = []string{"Italian food", "French food", "Chinese food", "Indian food", "Japanese food", "English food", "fast food", "pasta", "noodles", "curry", "sushi", "fish and chips", "pizza", "soup", "coffee", "tea", "cake", "a sandwich", "bread", "fresh fruit"}
	adjsG    = []string{"cheap", "expensive", "quiet", "busy", "small", "large", "friendly", "old", "new", "pleasant", "crowded", "cosy", "popular", "famous", "modern", "simple"}
	nounsG   = []string{"pub", "coffee shop", "restaurant", "bakery", "market stall", "hotel", "garden", "street", "bridge", "boat", "kitchen", "shop", "room", "menu", "table"}
	opinions = []string{"was very good", "was too expensive", "was cheap and tasty", "was better than last time", "was not worth the price", "was excellent", "was a little cold", "was average", "had a high rating online", "had a low rating online", "was popular with families", "was good value"}
	verbsGo  = []string{"walked to", "went to", "drove to", "cycled to", "visited", "waited near", "met outside", "sat by", "looked for"}
	verbsEat = []string{"ate", "ordered", "cooked", "shared", "enjoyed", "tried", "bought"}
	weather  = []string{"It was raining", "The sun was shining", "It was cold", "The weather was warm", "A strong wind blew", "The sky was grey"}
	linkers  = []string{"Later", "Then", "After that", "Meanwhile", "In the end", "At first", "Afterwards"}
)

// corpusSentence draws one sentence.
func corpusSentence(rng *rand.Rand) string {
	p := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	someone := func() string {
		if rng.IntN(2) == 0 {
			return p(people)
		}
		return p(groups)
	}
	venue := func() string {
		switch rng.IntN(4) {
		case 0:
			return p(Names)
		case 1:
			return p(NearNames)
		case 2:
			return "the " + p(adjsG) + " " + p(nounsG)
		}
		return p(places)
	}
	var s string
	switch rng.IntN(14) {
	case 0:
		s = someone() + " " + p(verbsGo) + " " + venue() + " " + p(times)
	case 1:
		s = someone() + " " + p(verbsEat) + " " + p(foodsG) + " at " + venue()
	case 2:
		s = "The " + p(foodsG) + " at " + venue() + " " + p(opinions)
	case 3:
		s = p(weather) + " when " + someone() + " arrived at " + venue()
	case 4:
		s = p(Names) + " is near " + p(places)
	case 5:
		s = someone() + " said that " + venue() + " " + p(opinions)
	case 6:
		s = p(linkers) + ", " + someone() + " " + p(verbsGo) + " " + venue()
	case 7:
		s = "Many customers say the " + p(nounsG) + " near " + p(NearNames) + " is " + p(adjsG)
	case 8:
		s = "Prices in " + p(places) + " are " + []string{"high", "low", "moderate", "rising", "falling"}[rng.IntN(5)] + " this year"
	case 9:
		s = someone() + " likes " + p(foodsG) + " but prefers " + p(foodsG)
	case 10:
		s = "Children are " + []string{"welcome", "not welcome", "often seen", "playing"}[rng.IntN(4)] + " in " + p(places)
	case 11:
		s = "A meal for two costs " + []string{"less than £20", "about £20-25", "more than £30", "very little", "a lot"}[rng.IntN(5)] + " in " + p(places)
	case 12:
		s = "The " + p(adjsG) + " " + p(nounsG) + " by " + p(places) + " was " + p(adjsG) + " " + p(times)
	default:
		s = someone() + " gave " + venue() + " a rating of " + []string{"1", "2", "3", "4", "5"}[rng.IntN(5)] + " out of 5"
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// Corpus returns n paragraphs of 3 to 7 sentences from the generic grammar, drawn
// from seed.
func Corpus(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 0xc0bb05))
	out := make([]string, n)
	for i := range out {
		k := 3 + rng.IntN(5)
		ss := make([]string, k)
		for j := range ss {
			ss[j] = corpusSentence(rng)
		}
		out[i] = strings.Join(ss, " ")
	}
	return out
}
