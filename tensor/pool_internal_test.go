package tensor

import "testing"

func TestSizeClasses(t *testing.T) {
	ns := []int{poolMinLen, poolMinLen + 1, 4607, 4608, 4609, 5000, 8191, 8192, 8193, 1 << 20, 1<<20 + 1, 3 << 20, 123457, 1<<30 + 7}
	for n := poolMinLen; n < 1<<16; n += 97 {
		ns = append(ns, n)
	}
	for _, n := range ns {
		c := sizeClass(n)
		got := classCap(c)
		if got < n || float64(got) > 1.125*float64(n)+1 {
			t.Fatalf("sizeClass(%d) = %d with capacity %d, want the smallest capacity ≥ %d within 12.5%%", n, c, got, n)
		}
		if c > poolSteps-1 && classCap(c-1) >= n {
			t.Fatalf("sizeClass(%d) = %d but class %d (capacity %d) also fits", n, c, c-1, classCap(c-1))
		}
		if sizeClass(got) != c {
			t.Fatalf("sizeClass(classCap(%d) = %d) = %d", c, got, sizeClass(got))
		}
	}
}

func TestPooledBuffers(t *testing.T) {
	// Small buffers are not pooled; large ones carry an allocation number
	// and a class capacity; Zeros clears a reused buffer.
	if b, id, _ := getBuf(10); len(b) != 10 || id != 0 {
		t.Fatalf("getBuf(10): len %d, id %d", len(b), id)
	}
	n := 3*poolMinLen + 5
	for range 3 {
		e := empty(n)
		if len(e.data) != n || cap(e.data) != classCap(sizeClass(n)) || e.bufID == 0 {
			t.Fatalf("empty(%d): len %d cap %d id %d", n, len(e.data), cap(e.data), e.bufID)
		}
		for i := range e.data {
			e.data[i] = 7
		}
		putBuf(e.data)
		z := Zeros(n)
		for i, v := range z.data {
			if v != 0 {
				t.Fatalf("Zeros after reuse: element %d is %v", i, v)
			}
		}
		putBuf(z.data)
	}
	putBuf(make([]float32, poolMinLen+1)) // not a class capacity: ignored
}
