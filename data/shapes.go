package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// ShapesClasses names the classes of the shapes dataset by label index:
// 0 is background, 1..6 the six shape classes.
var ShapesClasses = []string{"background", "circle", "square", "triangle", "ellipse", "rectangle", "hexagon"}

// ShapesConfig says how to generate the shapes dataset. The zero value of a
// field means its default (see DefaultShapesConfig).
type ShapesConfig struct {
	// Size is the height and width of every image, in pixels (default 128).
	Size int
	// Train and Val are the number of images in each split (default 2000
	// and 400). Image i of a split is the same whatever the split sizes.
	Train, Val int
	// Seed selects the dataset; the same seed gives the same images.
	Seed uint64
	// MinShapes and MaxShapes bound the number of shapes placed on an image
	// (default 2 and 5; fewer end up placed when the image is too crowded).
	MinShapes, MaxShapes int
	// MinRadius and MaxRadius bound the shapes' circumradius as a fraction
	// of the image side (default 0.14 and 0.45; drawn log-uniform).
	MinRadius, MaxRadius float64
	// IgnoreBorder, if positive, sets to Ignore (255) every mask pixel within
	// this many pixels (Chebyshev distance) of a boundary between two labels,
	// as Pascal VOC does. The default 0 labels every pixel.
	IgnoreBorder int
	// Domain selects the look and the shape families: "" (the default) is the
	// data described at ShapesDataset; DomainShifted is a shifted domain for
	// adaptation studies — muted colours of low contrast, fine textures (dots,
	// fine stripes and checks, fast noise) and other shape families (star,
	// cross, ring, wavy blob, crescent, rhombus; ShiftedShapesClasses), with the
	// same placement, occlusion and noise rules.
	Domain string
}

// DomainShifted is the ShapesConfig.Domain of the shifted shapes data.
const DomainShifted = "shifted"

// ShiftedShapesClasses names the classes of the shifted domain by label index.
var ShiftedShapesClasses = []string{"background", "star", "cross", "ring", "blob", "crescent", "rhombus"}

// DefaultShapesConfig returns the default shapes configuration: 128×128
// images, 2,000 training and 400 validation images, seed 0, 2 to 5 shapes per
// image of circumradius 14% to 45% of the side, no ignore border.
func DefaultShapesConfig() ShapesConfig {
	return ShapesConfig{Size: 128, Train: 2000, Val: 400, MinShapes: 2, MaxShapes: 5, MinRadius: 0.14, MaxRadius: 0.45}
}

// withDefaults fills the zero fields of c with their defaults.
func (c ShapesConfig) withDefaults() ShapesConfig {
	d := DefaultShapesConfig()
	if c.Size == 0 {
		c.Size = d.Size
	}
	if c.Train == 0 {
		c.Train = d.Train
	}
	if c.Val == 0 {
		c.Val = d.Val
	}
	if c.MinShapes == 0 {
		c.MinShapes = d.MinShapes
	}
	if c.MaxShapes == 0 {
		c.MaxShapes = max(d.MaxShapes, c.MinShapes)
	}
	if c.MinRadius == 0 {
		c.MinRadius = d.MinRadius
		if c.MaxRadius > 0 {
			c.MinRadius = min(c.MinRadius, c.MaxRadius)
		}
	}
	if c.MaxRadius == 0 {
		c.MaxRadius = max(d.MaxRadius, c.MinRadius)
	}
	return c
}

// validate reports a configuration that cannot be generated.
func (c ShapesConfig) validate() error {
	switch {
	case c.Size < 16 || c.Size > 4096:
		return fmt.Errorf("data: shapes: size %d out of range (want 16..4096)", c.Size)
	case c.Train < 0 || c.Val < 0:
		return fmt.Errorf("data: shapes: negative split size (train %d, val %d)", c.Train, c.Val)
	case c.MinShapes < 1 || c.MaxShapes < c.MinShapes || c.MaxShapes > 32:
		return fmt.Errorf("data: shapes: want 1 <= min shapes (%d) <= max shapes (%d) <= 32", c.MinShapes, c.MaxShapes)
	case !(c.MinRadius > 0 && c.MinRadius <= c.MaxRadius && c.MaxRadius <= 1):
		return fmt.Errorf("data: shapes: want 0 < min radius (%g) <= max radius (%g) <= 1", c.MinRadius, c.MaxRadius)
	case c.IgnoreBorder < 0 || c.IgnoreBorder > 8:
		return fmt.Errorf("data: shapes: ignore border %d out of range (want 0..8)", c.IgnoreBorder)
	case c.Domain != "" && c.Domain != DomainShifted:
		return fmt.Errorf("data: shapes: domain %q, want \"\" or %q", c.Domain, DomainShifted)
	}
	return nil
}

// ShapesDataset is one split of the synthetic shapes dataset, held in memory
// as 8-bit images. It implements Dataset: Get(i) returns a Sample with an RGB
// image (3, Size, Size) in [0, 1], a mask (Size, Size) with labels 0..6 (and
// Ignore near boundaries if IgnoreBorder > 0) and one box per visible shape
// instance, tight around its visible pixels. It is safe for concurrent use.
//
// Each image has a textured background (flat, gradient, stripes, checker or
// smooth noise, in random colours), a few background-class stroke distractors,
// and MinShapes..MaxShapes shapes (circle, square, triangle, ellipse,
// rectangle, hexagon) of random size (circumradius MinRadius to MaxRadius of
// the image side, log-uniform: by default 18 to 58 pixels at 128×128),
// rotation, position and texture, whose colours are drawn independently of
// their class. Later shapes occlude earlier ones, but never below 45% of an
// earlier shape's visible area; shapes may be cut by the image border.
// Per-pixel Gaussian noise (σ 0.02..0.07) covers everything.
//
// The classes come in look-alike pairs that only the global outline tells
// apart — circle and ellipse (the same smooth curve, another aspect ratio),
// square and rectangle (the same straight edges and right angles), triangle
// and hexagon (straight edges, corners of 60° against 120°) — and the shapes
// are large, so that most of a shape's pixels are far from any corner or
// from the far side of the outline: labelling them needs a wide view, which
// is what the GCN's large kernels give.
type ShapesDataset struct {
	cfg   ShapesConfig
	split string
	pix   [][]uint8 // (3, S, S) per image
	mask  [][]uint8 // (S, S)
	inst  [][]uint8 // (S, S): instance index into boxes, 255 = none
	boxes [][]Box
}

var shapesCache struct {
	sync.Mutex
	m map[string]*ShapesDataset
}

// Shapes returns the given split ("train" or "val") of the shapes dataset,
// generating it on first use with all cores and keeping it in memory for
// later calls with the same configuration. Generation is deterministic: the
// same configuration gives the same data whatever GOMAXPROCS is.
func Shapes(cfg ShapesConfig, split string) (*ShapesDataset, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var n int
	switch split {
	case "train":
		n = cfg.Train
	case "val":
		n = cfg.Val
	default:
		return nil, fmt.Errorf("data: shapes: unknown split %q (want train or val)", split)
	}
	key := fmt.Sprintf("%+v/%s", cfg, split)
	shapesCache.Lock()
	defer shapesCache.Unlock()
	if d, ok := shapesCache.m[key]; ok {
		return d, nil
	}
	d := GenerateShapes(cfg, split, n)
	if shapesCache.m == nil {
		shapesCache.m = map[string]*ShapesDataset{}
	}
	shapesCache.m[key] = d
	return d, nil
}

// GenerateShapes generates n images of the given split of the shapes dataset
// without caching, using GOMAXPROCS goroutines. The configuration must be
// valid (Shapes checks it); split only selects the random stream, so "train"
// and "val" never share an image.
func GenerateShapes(cfg ShapesConfig, split string, n int) *ShapesDataset {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		panic(err.Error())
	}
	d := &ShapesDataset{cfg: cfg, split: split,
		pix: make([][]uint8, n), mask: make([][]uint8, n), inst: make([][]uint8, n), boxes: make([][]Box, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), max(n, 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newShapesGen(cfg.Size)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				rng := rand.New(rand.NewPCG(cfg.Seed, splitmix(splitKey(split)^uint64(i))))
				d.pix[i], d.mask[i], d.inst[i], d.boxes[i] = g.render(rng, cfg)
			}
		}()
	}
	wg.Wait()
	return d
}

// splitKey returns a stream key for a split name.
func splitKey(split string) uint64 {
	h := uint64(1469598103934665603)
	for i := 0; i < len(split); i++ {
		h = (h ^ uint64(split[i])) * 1099511628211
	}
	return h << 24
}

// splitmix mixes x into a well-spread 64-bit value (SplitMix64's finaliser).
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Len returns the number of images in the split.
func (d *ShapesDataset) Len() int { return len(d.pix) }

// Config returns the configuration the split was generated with (defaults
// filled in).
func (d *ShapesDataset) Config() ShapesConfig { return d.cfg }

// Classes returns ShapesClasses (ShiftedShapesClasses in the shifted domain).
func (d *ShapesDataset) Classes() []string {
	if d.cfg.Domain == DomainShifted {
		return ShiftedShapesClasses
	}
	return ShapesClasses
}

// Get returns image i as a Sample owned by the caller.
func (d *ShapesDataset) Get(i int) (Sample, error) {
	if i < 0 || i >= len(d.pix) {
		return Sample{}, fmt.Errorf("data: shapes %s: index %d out of range [0,%d)", d.split, i, len(d.pix))
	}
	s := d.cfg.Size
	img := NewImage(3, s, s)
	for k, v := range d.pix[i] {
		img.Pix[k] = float32(v) / 255
	}
	return Sample{
		Image: img,
		Mask:  &Mask{H: s, W: s, Pix: append([]uint8(nil), d.mask[i]...)},
		Boxes: append([]Box(nil), d.boxes[i]...),
		Name:  fmt.Sprintf("shapes_%s_%06d", d.split, i),
	}, nil
}

// InstanceMap returns image i's instance map: pixel value j < len(boxes) means
// the pixel belongs to the shape whose box is Get(i).Boxes[j], 255 means
// background. The result is owned by the caller.
func (d *ShapesDataset) InstanceMap(i int) *Mask {
	s := d.cfg.Size
	return &Mask{H: s, W: s, Pix: append([]uint8(nil), d.inst[i]...)}
}

// shapesGen holds the scratch buffers of one generating goroutine.
type shapesGen struct {
	s     int
	rgb   [3][]float32
	inst  []int8
	cover []bool
	noise []float32
}

func newShapesGen(s int) *shapesGen {
	g := &shapesGen{s: s, inst: make([]int8, s*s), cover: make([]bool, s*s)}
	for c := range g.rgb {
		g.rgb[c] = make([]float32, s*s)
	}
	return g
}

// texture is a procedural fill: t(x, y) in [0, 1] blends colour a into b.
type texture struct {
	kind       int // 0 flat, 1 gradient, 2 stripes, 3 checker, 4 smooth noise
	a, b       [3]float32
	dx, dy     float32 // unit direction
	freq, off  float32
	hard       bool
	cell       float32
	grid       []float32
	gw         int
	jitterGain float32
}

func randColor(rng *rand.Rand) [3]float32 {
	return [3]float32{rng.Float32(), rng.Float32(), rng.Float32()}
}

func colorDist(a, b [3]float32) float32 {
	d0, d1, d2 := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return float32(math.Sqrt(float64(d0*d0 + d1*d1 + d2*d2)))
}

// newTexture draws a random texture for an image of side s whose first colour
// is a. The second colour is near a for calm textures and anywhere for busy
// ones.
func newTexture(rng *rand.Rand, s int, a [3]float32) *texture {
	t := &texture{kind: rng.IntN(5), a: a}
	spread := 0.15 + 0.5*rng.Float32()
	for c := range t.b {
		t.b[c] = min(max(a[c]+spread*(2*rng.Float32()-1), 0), 1)
	}
	ang := rng.Float64() * 2 * math.Pi
	t.dx, t.dy = float32(math.Cos(ang)), float32(math.Sin(ang))
	switch t.kind {
	case 1:
		t.freq = 1 / (float32(s) * (0.5 + rng.Float32()))
		t.off = rng.Float32()
	case 2:
		t.freq = 1 / (3 + 13*rng.Float32())
		t.off = rng.Float32()
		t.hard = rng.IntN(2) == 0
	case 3:
		t.cell = 3 + 10*rng.Float32()
	case 4:
		t.cell = 5 + 20*rng.Float32()
		t.gw = int(float32(s)/t.cell) + 3
		t.grid = make([]float32, t.gw*t.gw)
		for i := range t.grid {
			t.grid[i] = rng.Float32()
		}
	}
	return t
}

// at returns the texture's colour at pixel centre (x, y).
func (t *texture) at(x, y float32) [3]float32 {
	var v float32
	switch t.kind {
	case 0:
		return t.a
	case 1:
		v = (x*t.dx+y*t.dy)*t.freq + t.off
		v -= float32(math.Floor(float64(v)))
		v = 1 - 2*abs32(v-0.5) // triangle wave: a smooth ramp back and forth
	case 2:
		p := (x*t.dx+y*t.dy)*t.freq + t.off
		p -= float32(math.Floor(float64(p)))
		if t.hard {
			if p < 0.5 {
				v = 1
			}
		} else {
			v = 1 - 2*abs32(p-0.5)
		}
	case 3:
		u := (x*t.dx + y*t.dy) / t.cell
		w := (-x*t.dy + y*t.dx) / t.cell
		if (int(math.Floor(float64(u)))+int(math.Floor(float64(w))))&1 == 0 {
			v = 1
		}
	case 5: // dots on a hexagonal-ish lattice (shifted domain)
		u := (x*t.dx + y*t.dy) / t.cell
		w := (-x*t.dy + y*t.dx) / t.cell
		fu, fw := u-float32(math.Floor(float64(u)))-0.5, w-float32(math.Floor(float64(w)))-0.5
		if fu*fu+fw*fw <= 0.09 {
			v = 1
		}
	case 4:
		gx, gy := x/t.cell, y/t.cell
		ix, iy := int(gx), int(gy)
		fx, fy := gx-float32(ix), gy-float32(iy)
		fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
		g := t.grid[iy*t.gw+ix:]
		v = (1-fy)*((1-fx)*g[0]+fx*g[1]) + fy*((1-fx)*g[t.gw]+fx*g[t.gw+1])
	}
	return [3]float32{t.a[0] + v*(t.b[0]-t.a[0]), t.a[1] + v*(t.b[1]-t.a[1]), t.a[2] + v*(t.b[2]-t.a[2])}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// shape is one placed shape: class k (1..6) centred at (cx, cy), circumradius
// r, rotation (cos, sin), and class-specific parameters.
type shape struct {
	k      int
	cx, cy float32
	r      float32
	cs, sn float32
	p      float32 // ellipse and rectangle: minor/major ratio
	x0, y0 int     // bounding box, clipped to the image
	x1, y1 int
	triCos [3]float32
	triSin [3]float32
}

func newShape(rng *rand.Rand, k, s int, rmin, rmax float64) *shape {
	fs := float32(s)
	sh := &shape{k: k}
	sh.r = fs * float32(rmin*math.Exp(rng.Float64()*math.Log(rmax/rmin)))
	sh.cx = fs * (0.08 + 0.84*rng.Float32())
	sh.cy = fs * (0.08 + 0.84*rng.Float32())
	ang := rng.Float64() * 2 * math.Pi
	sh.cs, sh.sn = float32(math.Cos(ang)), float32(math.Sin(ang))
	switch k {
	case 4, 5: // ellipse, rectangle
		sh.p = 0.4 + 0.25*rng.Float32()
	case 3: // triangle: outward normals of the three edges
		for i := 0; i < 3; i++ {
			a := math.Pi/3 + float64(i)*2*math.Pi/3
			sh.triCos[i], sh.triSin[i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	ext := 1.2 * sh.r // the triangle's and square's corners reach 1.15 r
	sh.x0 = min(max(int(sh.cx-ext)-1, 0), s)
	sh.y0 = min(max(int(sh.cy-ext)-1, 0), s)
	sh.x1 = max(min(int(sh.cx+ext)+2, s), 0)
	sh.y1 = max(min(int(sh.cy+ext)+2, s), 0)
	return sh
}

// inside reports whether pixel centre (x, y) is inside the shape.
func (sh *shape) inside(x, y float32) bool {
	dx, dy := x-sh.cx, y-sh.cy
	u := dx*sh.cs + dy*sh.sn
	v := -dx*sh.sn + dy*sh.cs
	r := sh.r
	switch sh.k {
	case 1: // circle
		return u*u+v*v <= r*r
	case 2: // square, half side 0.8 r
		a := 0.8 * r
		return abs32(u) <= a && abs32(v) <= a
	case 3: // equilateral triangle with circumradius 1.15 r (inradius 0.575 r)
		h := 0.575 * r
		for i := 0; i < 3; i++ {
			if u*sh.triCos[i]+v*sh.triSin[i] > h {
				return false
			}
		}
		return true
	case 4: // ellipse, semi-axes r and p·r
		b := sh.p * r
		return u*u*b*b+v*v*r*r <= r*r*b*b
	case 5: // rectangle, half sides 0.85 r and p·0.85 r
		a := 0.85 * r
		return abs32(u) <= a && abs32(v) <= sh.p*a
	case 6: // regular hexagon with circumradius r (inradius 0.866 r)
		h := 0.8660254 * r
		return abs32(u) <= h && abs32(0.5*u+0.8660254*v) <= h && abs32(0.5*u-0.8660254*v) <= h
	}
	return sh.insideShifted(u, v)
}

// render draws one image: it returns the (3, S, S) 8-bit image, the (S, S)
// mask, the instance map and the boxes.
func (g *shapesGen) render(rng *rand.Rand, cfg ShapesConfig) (pix, mask, inst []uint8, boxes []Box) {
	s := g.s
	// Background.
	shifted := cfg.Domain == DomainShifted
	var bgCol [3]float32
	var bg *texture
	if shifted {
		bgCol = mutedColor(rng)
		bg = newShiftedTexture(rng, s, bgCol)
	} else {
		bgCol = randColor(rng)
		bg = newTexture(rng, s, bgCol)
	}
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			c := bg.at(float32(x)+0.5, float32(y)+0.5)
			i := y*s + x
			g.rgb[0][i], g.rgb[1][i], g.rgb[2][i] = c[0], c[1], c[2]
		}
	}
	// Stroke distractors, labelled background.
	for n := rng.IntN(4); n > 0; n-- {
		col := randColor(rng)
		x0, y0 := rng.Float32()*float32(s), rng.Float32()*float32(s)
		ang := rng.Float64() * 2 * math.Pi
		l := float32(s) * (0.1 + 0.4*rng.Float32())
		x1, y1 := x0+l*float32(math.Cos(ang)), y0+l*float32(math.Sin(ang))
		half := 0.5 + 1.5*rng.Float32()
		g.stroke(x0, y0, x1, y1, half, col)
	}
	// Shapes.
	for i := range g.inst {
		g.inst[i] = -1
	}
	var placed []*shape
	var visible, areas []int // per placed shape: pixels visible now, pixels when placed
	want := cfg.MinShapes + rng.IntN(cfg.MaxShapes-cfg.MinShapes+1)
	for len(placed) < want {
		var ok bool
		var sh *shape
		k := 1 + rng.IntN(6)
		for try := 0; try < 20 && !ok; try++ {
			if shifted {
				sh = newShiftedShape(rng, k, s, cfg.MinRadius, cfg.MaxRadius)
			} else {
				sh = newShape(rng, k, s, cfg.MinRadius, cfg.MaxRadius)
			}
			ok = g.fits(sh, placed, visible, areas)
		}
		if !ok {
			break
		}
		// Paint it.
		var col [3]float32
		var tex *texture
		if shifted {
			for try := 0; try < 20; try++ {
				col = mutedColor(rng)
				if colorDist(col, bgCol) >= 0.2 {
					break
				}
			}
			tex = newShiftedTexture(rng, s, col)
		} else {
			for try := 0; try < 20; try++ {
				col = randColor(rng)
				if colorDist(col, bgCol) >= 0.35 {
					break
				}
			}
			tex = newTexture(rng, s, col)
		}
		id := int8(len(placed))
		own := 0
		for y := sh.y0; y < sh.y1; y++ {
			for x := sh.x0; x < sh.x1; x++ {
				i := y*s + x
				if !g.cover[i] {
					continue
				}
				if j := g.inst[i]; j >= 0 {
					visible[j]--
				}
				g.inst[i] = id
				own++
				c := tex.at(float32(x)+0.5, float32(y)+0.5)
				g.rgb[0][i], g.rgb[1][i], g.rgb[2][i] = c[0], c[1], c[2]
			}
		}
		placed = append(placed, sh)
		visible = append(visible, own)
		areas = append(areas, own)
	}
	// Noise and quantisation.
	sigma := 0.02 + 0.05*rng.Float32()
	pix = make([]uint8, 3*s*s)
	for c := 0; c < 3; c++ {
		for i, v := range g.rgb[c] {
			v += sigma * float32(rng.NormFloat64())
			pix[c*s*s+i] = uint8(min(max(v, 0), 1)*255 + 0.5)
		}
	}
	// Mask, instance map, boxes.
	mask = make([]uint8, s*s)
	inst = make([]uint8, s*s)
	type ext struct{ x0, y0, x1, y1, n int }
	exts := make([]ext, len(placed))
	for j := range exts {
		exts[j] = ext{x0: s, y0: s, x1: -1, y1: -1}
	}
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			i := y*s + x
			j := g.inst[i]
			if j < 0 {
				inst[i] = 255
				continue
			}
			mask[i] = uint8(placed[j].label())
			inst[i] = uint8(j)
			e := &exts[j]
			e.x0, e.y0, e.x1, e.y1, e.n = min(e.x0, x), min(e.y0, y), max(e.x1, x), max(e.y1, y), e.n+1
		}
	}
	remap := make([]uint8, len(placed))
	for j, e := range exts {
		remap[j] = 255
		if e.n == 0 {
			continue
		}
		remap[j] = uint8(len(boxes))
		boxes = append(boxes, Box{X0: float32(e.x0), Y0: float32(e.y0), X1: float32(e.x1 + 1), Y1: float32(e.y1 + 1), Class: placed[j].label()})
	}
	for i, j := range inst {
		if j != 255 {
			inst[i] = remap[j]
		}
	}
	if cfg.IgnoreBorder > 0 {
		mask = ignoreBorders(mask, s, cfg.IgnoreBorder)
	}
	return pix, mask, inst, boxes
}

// fits computes sh's coverage into g.cover and reports whether placing it on
// top keeps every earlier shape at least 45% visible (of its area when
// placed) and gives sh itself at least 40 pixels.
func (g *shapesGen) fits(sh *shape, placed []*shape, visible, areas []int) bool {
	s := g.s
	clear(g.cover)
	own := 0
	lost := make([]int, len(placed))
	for y := sh.y0; y < sh.y1; y++ {
		for x := sh.x0; x < sh.x1; x++ {
			if sh.inside(float32(x)+0.5, float32(y)+0.5) {
				i := y*s + x
				g.cover[i] = true
				own++
				if j := g.inst[i]; j >= 0 {
					lost[j]++
				}
			}
		}
	}
	if own < 40 {
		return false
	}
	for j := range placed {
		if lost[j] > 0 && float32(visible[j]-lost[j]) < 0.45*float32(areas[j]) {
			return false
		}
	}
	return true
}

// stroke draws a line segment of half-width half in colour col.
func (g *shapesGen) stroke(x0, y0, x1, y1, half float32, col [3]float32) {
	s := g.s
	minx := max(int(min(x0, x1)-half)-1, 0)
	maxx := min(int(max(x0, x1)+half)+2, s)
	miny := max(int(min(y0, y1)-half)-1, 0)
	maxy := min(int(max(y0, y1)+half)+2, s)
	dx, dy := x1-x0, y1-y0
	l2 := dx*dx + dy*dy
	for y := miny; y < maxy; y++ {
		for x := minx; x < maxx; x++ {
			px, py := float32(x)+0.5-x0, float32(y)+0.5-y0
			t := min(max((px*dx+py*dy)/l2, 0), 1)
			ex, ey := px-t*dx, py-t*dy
			if ex*ex+ey*ey <= half*half {
				i := y*s + x
				g.rgb[0][i], g.rgb[1][i], g.rgb[2][i] = col[0], col[1], col[2]
			}
		}
	}
}

// ignoreBorders returns a copy of mask with Ignore on every pixel within b
// pixels (Chebyshev distance) of a pixel of another label.
func ignoreBorders(mask []uint8, s, b int) []uint8 {
	out := append([]uint8(nil), mask...)
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			v := mask[y*s+x]
			if (x+1 < s && mask[y*s+x+1] != v) || (y+1 < s && mask[(y+1)*s+x] != v) {
				for yy := max(y-b+1, 0); yy <= min(y+b, s-1); yy++ {
					for xx := max(x-b+1, 0); xx <= min(x+b, s-1); xx++ {
						out[yy*s+xx] = Ignore
					}
				}
			}
		}
	}
	return out
}

// The shifted domain (ShapesConfig.Domain = DomainShifted). Its shape kinds are 7..12
// (label kind − 6): star, cross, ring, wavy blob, crescent, rhombus.

// label returns the shape's class label: 1..6 in either domain.
func (sh *shape) label() int {
	if sh.k > 6 {
		return sh.k - 6
	}
	return sh.k
}

// mutedColor draws a low-saturation mid-grey colour.
func mutedColor(rng *rand.Rand) [3]float32 {
	g := 0.25 + 0.5*rng.Float32()
	return [3]float32{
		min(max(g+0.15*(2*rng.Float32()-1), 0), 1),
		min(max(g+0.15*(2*rng.Float32()-1), 0), 1),
		min(max(g+0.15*(2*rng.Float32()-1), 0), 1),
	}
}

// newShiftedTexture draws a fine texture: dots, fine stripes, a fine check or fast
// noise, its second colour near a.
func newShiftedTexture(rng *rand.Rand, s int, a [3]float32) *texture {
	t := &texture{a: a}
	spread := 0.1 + 0.25*rng.Float32()
	for c := range t.b {
		t.b[c] = min(max(a[c]+spread*(2*rng.Float32()-1), 0), 1)
	}
	ang := rng.Float64() * 2 * math.Pi
	t.dx, t.dy = float32(math.Cos(ang)), float32(math.Sin(ang))
	switch rng.IntN(4) {
	case 0:
		t.kind = 5
		t.cell = 3 + 4*rng.Float32()
	case 1:
		t.kind = 2
		t.freq = 1 / (2 + 3*rng.Float32())
		t.off = rng.Float32()
		t.hard = true
	case 2:
		t.kind = 3
		t.cell = 2 + 3*rng.Float32()
	default:
		t.kind = 4
		t.cell = 2 + 3*rng.Float32()
		t.gw = int(float32(s)/t.cell) + 3
		t.grid = make([]float32, t.gw*t.gw)
		for i := range t.grid {
			t.grid[i] = rng.Float32()
		}
	}
	return t
}

// newShiftedShape places a shape of the shifted family k (1..6).
func newShiftedShape(rng *rand.Rand, k, s int, rmin, rmax float64) *shape {
	sh := newShape(rng, 0, s, rmin, rmax)
	sh.k = k + 6
	switch sh.k {
	case 10: // blob: number of lobes and phase
		sh.p = float32(3 + rng.IntN(3))
		sh.triCos[0] = rng.Float32() * 2 * math.Pi
	case 7: // star: inner radius fraction
		sh.p = 0.4 + 0.15*rng.Float32()
	}
	return sh
}

// insideShifted reports whether the point (u, v), in the shape's rotated frame, is
// inside a shape of the shifted domain.
func (sh *shape) insideShifted(u, v float32) bool {
	r := sh.r
	switch sh.k {
	case 7: // five-pointed star, outer radius 1.1 r, inner p·1.1 r
		R := 1.1 * float64(r)
		rho := float64(sh.p) * R
		d := math.Hypot(float64(u), float64(v))
		if d == 0 {
			return true
		}
		t := math.Mod(math.Atan2(float64(v), float64(u))+2*math.Pi, 2*math.Pi/5)
		if t > math.Pi/5 {
			t = 2*math.Pi/5 - t
		}
		px, py := d*math.Cos(t), d*math.Sin(t)
		bx, by := rho*math.Cos(math.Pi/5), rho*math.Sin(math.Pi/5)
		// inside when p is on the origin's side of the edge from (R, 0) to b
		cross := func(x, y float64) float64 { return (bx-R)*y - by*(x-R) }
		return cross(px, py)*cross(0, 0) >= 0
	case 8: // cross (plus), arms 0.9 r long and 0.3 r half wide
		a, b := 0.9*r, 0.3*r
		return (abs32(u) <= a && abs32(v) <= b) || (abs32(u) <= b && abs32(v) <= a)
	case 9: // ring, radii 0.55 r to r
		d2 := u*u + v*v
		return d2 <= r*r && d2 >= 0.3025*r*r
	case 10: // wavy blob
		d := math.Hypot(float64(u), float64(v))
		th := math.Atan2(float64(v), float64(u))
		return d <= float64(r)*(0.8+0.2*math.Sin(float64(sh.p)*th+float64(sh.triCos[0])))
	case 11: // crescent: a disc of radius r minus one of 0.8 r shifted 0.45 r
		if u*u+v*v > r*r {
			return false
		}
		du := u - 0.45*r
		return du*du+v*v > 0.64*r*r
	case 12: // rhombus, half diagonals r and 0.5 r
		return abs32(u)/r+abs32(v)/(0.5*r) <= 1
	}
	return false
}
