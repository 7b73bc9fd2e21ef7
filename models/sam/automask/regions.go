package automask

import (
	"fmt"
	"slices"
)

// RegionMode selects what RemoveSmallRegions removes.
type RegionMode int

const (
	// Holes fills small regions of background (8-connected), including ones touching
	// the border.
	Holes RegionMode = iota
	// Islands removes small 8-connected regions of foreground; if every region is small,
	// the largest stays.
	Islands
)

func (m RegionMode) String() string {
	switch m {
	case Holes:
		return "holes"
	case Islands:
		return "islands"
	}
	return fmt.Sprintf("RegionMode(%d)", int(m))
}

// RemoveSmallRegions is remove_small_regions: in a 0/1 mask (h, w) it fills holes or
// removes islands whose area is below areaThresh, with the 8-connected components of
// OpenCV's connectedComponentsWithStats (no OpenCV needed: components are numbered in
// the order OpenCV numbers them, which decides which of equally large islands survives
// when all are small). It returns the new mask (mask itself when nothing changed) and
// whether there was any small region.
func RemoveSmallRegions(mask []uint8, h, w int, areaThresh float64, mode RegionMode) ([]uint8, bool) {
	if len(mask) != h*w {
		panic(fmt.Sprintf("automask.RemoveSmallRegions: mask has %d pixels, want %d×%d", len(mask), h, w))
	}
	holes := mode == Holes
	work := make([]uint8, len(mask))
	for i, v := range mask {
		if (v != 0) != holes {
			work[i] = 1
		}
	}
	labels, sizes := components(work, h, w)
	small := make([]bool, len(sizes)+1) // by label; label 0 is the background
	anySmall := false
	for i, s := range sizes {
		if float64(s) < areaThresh {
			small[i+1] = true
			anySmall = true
		}
	}
	if !anySmall {
		return mask, false
	}
	fill := make([]bool, len(sizes)+1)
	if holes {
		fill[0] = true
		copy(fill[1:], small[1:])
	} else {
		some := false
		for l := 1; l <= len(sizes); l++ {
			fill[l] = !small[l]
			some = some || fill[l]
		}
		if !some {
			best := 0
			for i, s := range sizes {
				if s > sizes[best] {
					best = i
				}
			}
			fill[best+1] = true
		}
	}
	out := make([]uint8, len(mask))
	for i, l := range labels {
		if fill[l] {
			out[i] = 1
		}
	}
	return out, true
}

// components labels the 8-connected components of the nonzero pixels of m (h, w): 0 for
// background, 1…n for components, and returns each component's area (sizes[l−1]).
// Components are numbered as OpenCV's block-based labelling (Spaghetti/BBDT, 2×2 blocks
// scanned row pair by row pair, left to right) numbers them: by the first block, in that
// scan, that holds one of their pixels.
func components(m []uint8, h, w int) (labels []int32, sizes []int) {
	labels = make([]int32, h*w)
	parent := []int32{0}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	union := func(a, b int32) int32 {
		a, b = find(a), find(b)
		if a < b {
			parent[b] = a
			return a
		}
		parent[a] = b
		return b
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if m[i] == 0 {
				continue
			}
			var l int32
			link := func(j int) {
				if n := labels[j]; n != 0 {
					if l == 0 {
						l = find(n)
					} else {
						l = union(l, n)
					}
				}
			}
			if x > 0 {
				link(i - 1)
			}
			if y > 0 {
				if x > 0 {
					link(i - w - 1)
				}
				link(i - w)
				if x+1 < w {
					link(i - w + 1)
				}
			}
			if l == 0 {
				l = int32(len(parent))
				parent = append(parent, l)
			}
			labels[i] = l
		}
	}
	// Roots, each with its first block in OpenCV's scan and its area.
	bw := (w + 1) / 2
	type comp struct {
		block, area int
	}
	byRoot := map[int32]*comp{}
	var roots []int32
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if labels[i] == 0 {
				continue
			}
			r := find(labels[i])
			labels[i] = r
			b := (y/2)*bw + x/2
			c := byRoot[r]
			if c == nil {
				c = &comp{block: b}
				byRoot[r] = c
				roots = append(roots, r)
			}
			c.block = min(c.block, b)
			c.area++
		}
	}
	slices.SortFunc(roots, func(a, b int32) int { return byRoot[a].block - byRoot[b].block })
	final := make(map[int32]int32, len(roots))
	sizes = make([]int, len(roots))
	for k, r := range roots {
		final[r] = int32(k + 1)
		sizes[k] = byRoot[r].area
	}
	for i, l := range labels {
		if l != 0 {
			labels[i] = final[l]
		}
	}
	return labels, sizes
}
