// Package pairwise sums float64 slices in exactly the order NumPy does, so that
// means computed by fovea's metrics carry the same last bits as the reference
// Python tools (pycocotools, mmsegmentation, the VOC devkit ports), which all
// average with np.mean / np.nanmean / np.sum.
//
// NumPy reduces a float64 array through its buffered iterator: the array is
// cut into chunks of 8192 values (the buffer size), the chunks' sums are added
// one after the other to 0, and each chunk is summed pairwise: blocks of at
// most 128 values with eight interleaved accumulators, longer runs split in
// two (the split point rounded down to a multiple of 8) and summed
// recursively.
package pairwise

import "math"

const (
	blockSize  = 128  // NumPy's PW_BLOCKSIZE
	bufferSize = 8192 // NumPy's default ufunc buffer size
)

// Sum returns the sum of x in NumPy's order (np.sum(x) for a 1-D float64
// array x: (n,)).
func Sum(x []float64) float64 {
	if len(x) <= bufferSize {
		return pairwiseSum(x)
	}
	res := 0.0
	for i := 0; i < len(x); i += bufferSize {
		res += pairwiseSum(x[i:min(i+bufferSize, len(x))])
	}
	return res
}

// pairwiseSum is NumPy's pairwise_sum of one buffer.
func pairwiseSum(x []float64) float64 {
	n := len(x)
	if n < 8 {
		res := 0.0
		for _, v := range x {
			res += v
		}
		return res
	}
	if n <= blockSize {
		var r [8]float64
		copy(r[:], x[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			r[0] += x[i+0]
			r[1] += x[i+1]
			r[2] += x[i+2]
			r[3] += x[i+3]
			r[4] += x[i+4]
			r[5] += x[i+5]
			r[6] += x[i+6]
			r[7] += x[i+7]
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += x[i]
		}
		return res
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(x[:n2]) + pairwiseSum(x[n2:])
}

// Mean returns np.mean(x): Sum(x) / len(x), NaN for an empty slice.
func Mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return Sum(x) / float64(len(x))
}

// NaNMean returns np.nanmean(x): the mean of the values of x that are not
// NaN, summed in NumPy's order with NaNs replaced by zeros, and NaN when every
// value is NaN.
func NaNMean(x []float64) float64 {
	buf := make([]float64, len(x))
	cnt := 0
	for i, v := range x {
		if math.IsNaN(v) {
			continue
		}
		buf[i] = v
		cnt++
	}
	if cnt == 0 {
		return math.NaN()
	}
	return Sum(buf) / float64(cnt)
}
