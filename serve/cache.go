package serve

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam"
)

// imageEntry is an uploaded image: its RGB pixels and, once the encoder has run, a
// predictor holding its embedding.
type imageEntry struct {
	id   string // hex SHA-256 of the uploaded file
	w, h int
	pix  []uint8 // (h, w, 3) RGB, for automatic masks over crops
	job  *job    // the embedding job

	pred *sam.Predictor // nil until the embedding is ready (guarded by imageCache.mu)
	elem *list.Element  // in imageCache.lru once ready
}

// imageCache holds images by content hash: those being embedded, and up to cap with
// their embedding, the least recently used evicted first.
type imageCache struct {
	mu   sync.Mutex
	cap  int
	lru  *list.List // ready entries, most recently used at the front
	byID map[string]*imageEntry
}

func newImageCache(n int) *imageCache {
	return &imageCache{cap: n, lru: list.New(), byID: map[string]*imageEntry{}}
}

// get returns the entry of id and its predictor (nil while the embedding runs), marking
// it recently used.
func (c *imageCache) get(id string) (*imageEntry, *sam.Predictor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil, nil, false
	}
	if e.elem != nil {
		c.lru.MoveToFront(e.elem)
	}
	return e, e.pred, true
}

// getOrAdd returns the entry of id, or adds the one make returns (as pending) when there
// is none; added reports which. make runs under the lock and may fail.
func (c *imageCache) getOrAdd(id string, make func() (*imageEntry, error)) (e *imageEntry, added bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		return e, false, nil
	}
	if e, err = make(); err != nil {
		return nil, false, err
	}
	c.byID[id] = e
	return e, true, nil
}

// setReady stores the predictor of a pending entry and evicts the least recently used
// entries beyond the capacity.
func (c *imageCache) setReady(e *imageEntry, p *sam.Predictor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.pred = p
	e.elem = c.lru.PushFront(e)
	for c.lru.Len() > c.cap {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byID, old.Value.(*imageEntry).id)
	}
}

// remove drops a pending entry whose embedding failed.
func (c *imageCache) remove(e *imageEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID[e.id] == e {
		delete(c.byID, e.id)
	}
	if e.elem != nil {
		c.lru.Remove(e.elem)
	}
}

// len returns the number of ready entries and of all entries.
func (c *imageCache) len() (ready, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), len(c.byID)
}

// maskEntry is a mask kept for download (PNG, COCO RLE) and as a later mask prompt.
type maskEntry struct {
	id      string
	imageID string
	rle     rle.RLE   // the full-resolution mask
	lowRes  []float32 // (4G, 4G) logits from a prompt, nil for automatic masks
	score   float64   // predicted IoU
}

// maskCache keeps the last cap masks.
type maskCache struct {
	mu   sync.Mutex
	cap  int
	next uint64
	lru  *list.List
	byID map[string]*list.Element
}

func newMaskCache(n int) *maskCache {
	return &maskCache{cap: n, lru: list.New(), byID: map[string]*list.Element{}}
}

// add stores m under a new id and returns the id.
func (c *maskCache) add(m *maskEntry) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	m.id = fmt.Sprintf("m%d", c.next)
	c.byID[m.id] = c.lru.PushFront(m)
	for c.lru.Len() > c.cap {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byID, old.Value.(*maskEntry).id)
	}
	return m.id
}

// get returns the mask of id, marking it recently used.
func (c *maskCache) get(id string) (*maskEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*maskEntry), true
}
