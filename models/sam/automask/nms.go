package automask

import (
	"math"
	"math/bits"
	"slices"
	"sort"
)

// NMS is torchvision.ops.nms on the CPU: boxes (x0, y0, x1, y1) are visited in order of
// decreasing score (a stable sort: ties keep their order), and each kept box suppresses
// the later ones whose IoU with it exceeds iouThreshold. It returns the indices kept, in
// that order. Areas, intersections and IoUs are computed in float32 as the C++ kernel
// does; a pair of empty boxes has IoU NaN and suppresses nothing.
func NMS(boxes [][4]float32, scores []float32, iouThreshold float64) []int {
	n := len(boxes)
	if len(scores) != n {
		panic("automask.NMS: boxes and scores differ in length")
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return descLess(scores[order[a]], scores[order[b]]) })
	areas := make([]float32, n)
	for i, b := range boxes {
		areas[i] = float32(b[2]-b[0]) * float32(b[3]-b[1])
	}
	suppressed := make([]bool, n)
	var keep []int
	for oi, i := range order {
		if suppressed[i] {
			continue
		}
		keep = append(keep, i)
		bi, ai := boxes[i], areas[i]
		for _, j := range order[oi+1:] {
			if suppressed[j] {
				continue
			}
			bj := boxes[j]
			w := max(0, float32(min(bi[2], bj[2])-max(bi[0], bj[0])))
			h := max(0, float32(min(bi[3], bj[3])-max(bi[1], bj[1])))
			inter := float32(w * h)
			ovr := inter / float32(float32(ai+areas[j])-inter)
			if float64(ovr) > iouThreshold {
				suppressed[j] = true
			}
		}
	}
	return keep
}

// descLess is PyTorch's descending sort order (KeyValueCompDesc): NaN first, then larger
// values first.
func descLess(a, b float32) bool {
	an, bn := a != a, b != b
	return (an && !bn) || a > b
}

// BatchedNMS is torchvision.ops.batched_nms on the CPU: NMS within each category idxs[i]
// only, returning the kept indices in decreasing order of score. Like torchvision it
// takes one of two paths, which order tied scores differently: up to 1000 boxes, boxes
// are offset by category·(max coordinate + 1) and one NMS runs (ties keep their input
// order); above, NMS runs per category and the kept indices are sorted by score with
// PyTorch's unstable CPU sort (libstdc++'s std::sort, reproduced exactly here).
func BatchedNMS(boxes [][4]float32, scores []float32, idxs []int, iouThreshold float64) []int {
	n := len(boxes)
	if len(scores) != n || len(idxs) != n {
		panic("automask.BatchedNMS: boxes, scores and idxs differ in length")
	}
	if n == 0 {
		return nil
	}
	if 4*n > 4000 {
		return batchedNMSVanilla(boxes, scores, idxs, iouThreshold)
	}
	maxc := float32(math.Inf(-1))
	for _, b := range boxes {
		for _, v := range b {
			maxc = max(maxc, v)
		}
	}
	shifted := make([][4]float32, n)
	for i, b := range boxes {
		off := float32(idxs[i]) * (maxc + 1)
		for k := range b {
			shifted[i][k] = b[k] + off
		}
	}
	return NMS(shifted, scores, iouThreshold)
}

func batchedNMSVanilla(boxes [][4]float32, scores []float32, idxs []int, iouThreshold float64) []int {
	cats := slices.Clone(idxs)
	slices.Sort(cats)
	cats = slices.Compact(cats)
	keepMask := make([]bool, len(boxes))
	for _, c := range cats {
		var cur []int
		for i, v := range idxs {
			if v == c {
				cur = append(cur, i)
			}
		}
		cb := make([][4]float32, len(cur))
		cs := make([]float32, len(cur))
		for k, i := range cur {
			cb[k], cs[k] = boxes[i], scores[i]
		}
		for _, k := range NMS(cb, cs, iouThreshold) {
			keepMask[cur[k]] = true
		}
	}
	var keep []int
	for i, k := range keepMask {
		if k {
			keep = append(keep, i)
		}
	}
	items := make([]sortItem, len(keep))
	for k, i := range keep {
		items[k] = sortItem{scores[i], i}
	}
	stdSortDesc(items)
	for k := range items {
		keep[k] = items[k].idx
	}
	return keep
}

// sortItem is one (value, index) pair of PyTorch's sort.
type sortItem struct {
	v   float32
	idx int
}

// stdSortDesc sorts items by descending value exactly as torch.sort(descending=True,
// stable=False) does on the CPU for one dimension: libstdc++'s std::sort (introsort with
// median-of-three pivots, heapsort past the depth limit, a final insertion sort over
// runs of 16) comparing values only, so tied values end in the order it leaves them.
func stdSortDesc(a []sortItem) {
	n := len(a)
	if n < 2 {
		return
	}
	less := func(x, y sortItem) bool { return descLess(x.v, y.v) }
	const threshold = 16
	var introsort func(first, last, depth int)
	introsort = func(first, last, depth int) {
		for last-first > threshold {
			if depth == 0 {
				heapSort(a[first:last], less)
				return
			}
			depth--
			mid := first + (last-first)/2
			moveMedianToFirst(a, first, first+1, mid, last-1, less)
			cut := unguardedPartition(a, first+1, last, first, less)
			introsort(cut, last, depth)
			last = cut
		}
	}
	introsort(0, n, 2*(bits.Len(uint(n))-1))
	if n > threshold {
		insertionSort(a, 0, threshold, less)
		for i := threshold; i < n; i++ {
			unguardedLinearInsert(a, i, less)
		}
	} else {
		insertionSort(a, 0, n, less)
	}
}

func moveMedianToFirst(a []sortItem, result, x, y, z int, less func(x, y sortItem) bool) {
	switch {
	case less(a[x], a[y]):
		switch {
		case less(a[y], a[z]):
			a[result], a[y] = a[y], a[result]
		case less(a[x], a[z]):
			a[result], a[z] = a[z], a[result]
		default:
			a[result], a[x] = a[x], a[result]
		}
	case less(a[x], a[z]):
		a[result], a[x] = a[x], a[result]
	case less(a[y], a[z]):
		a[result], a[z] = a[z], a[result]
	default:
		a[result], a[y] = a[y], a[result]
	}
}

func unguardedPartition(a []sortItem, first, last, pivot int, less func(x, y sortItem) bool) int {
	for {
		for less(a[first], a[pivot]) {
			first++
		}
		last--
		for less(a[pivot], a[last]) {
			last--
		}
		if first >= last {
			return first
		}
		a[first], a[last] = a[last], a[first]
		first++
	}
}

func insertionSort(a []sortItem, first, last int, less func(x, y sortItem) bool) {
	for i := first + 1; i < last; i++ {
		if less(a[i], a[first]) {
			v := a[i]
			copy(a[first+1:i+1], a[first:i])
			a[first] = v
		} else {
			unguardedLinearInsert(a, i, less)
		}
	}
}

func unguardedLinearInsert(a []sortItem, last int, less func(x, y sortItem) bool) {
	v := a[last]
	next := last - 1
	for less(v, a[next]) {
		a[last] = a[next]
		last = next
		next--
	}
	a[last] = v
}

// heapSort is libstdc++'s __partial_sort(first, last, last): make_heap then sort_heap.
func heapSort(a []sortItem, less func(x, y sortItem) bool) {
	n := len(a)
	if n < 2 {
		return
	}
	for parent := (n - 2) / 2; ; parent-- {
		adjustHeap(a, parent, n, a[parent], less)
		if parent == 0 {
			break
		}
	}
	for last := n - 1; last > 0; last-- {
		v := a[last]
		a[last] = a[0]
		adjustHeap(a, 0, last, v, less)
	}
}

func adjustHeap(a []sortItem, hole, n int, v sortItem, less func(x, y sortItem) bool) {
	top := hole
	child := hole
	for child < (n-1)/2 {
		child = 2 * (child + 1)
		if less(a[child], a[child-1]) {
			child--
		}
		a[hole] = a[child]
		hole = child
	}
	if n&1 == 0 && child == (n-2)/2 {
		child = 2 * (child + 1)
		a[hole] = a[child-1]
		hole = child - 1
	}
	parent := (hole - 1) / 2
	for hole > top && less(a[parent], v) {
		a[hole] = a[parent]
		hole = parent
		parent = (hole - 1) / 2
	}
	a[hole] = v
}
