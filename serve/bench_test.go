package serve

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/tensor"
)

var (
	vitBOnce  sync.Once
	vitBModel *sam.Model
)

// benchServer returns a server over a random-weight vit_b with a cached 1024×768 image
// (the embedding set directly: the decoder's cost does not depend on its values, and the
// encoder is not what a click pays for).
func benchServer(b *testing.B) (*httptest.Server, string) {
	vitBOnce.Do(func() {
		m, err := sam.New(rand.New(rand.NewPCG(1, 2)), sam.VitB())
		if err != nil {
			panic(err)
		}
		vitBModel = m
	})
	s, err := New(Config{Model: vitBModel, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	const h, w = 768, 1024
	c := vitBModel.Config
	rng := rand.New(rand.NewPCG(3, 4))
	f := make([]float32, c.PromptEmbedDim*c.Grid()*c.Grid())
	for i := range f {
		f[i] = float32(rng.NormFloat64())
	}
	p := sam.NewPredictor(vitBModel)
	ih, iw := sam.PreprocessShape(h, w, c.ImageSize)
	if err := p.SetEmbedding(tensor.New(f, 1, c.PromptEmbedDim, c.Grid(), c.Grid()), [2]int{h, w}, [2]int{ih, iw}); err != nil {
		b.Fatal(err)
	}
	j, _ := s.jobs.add("embed", "bench")
	s.jobs.finish(j, nil, nil)
	e, _, _ := s.images.getOrAdd("bench", func() (*imageEntry, error) {
		return &imageEntry{id: "bench", w: w, h: h, pix: make([]uint8, h*w*3), job: j}, nil
	})
	s.images.setReady(e, p)
	ts := httptest.NewServer(s.Handler())
	b.Cleanup(ts.Close)
	// Warm up: first touches of the weights and of the buffer pool.
	for range 3 {
		body, _ := json.Marshal(PredictRequest{ImageID: e.id, Multimask: true, Prompts: []PromptRequest{{Points: [][]float64{{500, 300}}}}})
		res, err := ts.Client().Post(ts.URL+"/api/predict", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
	return ts, e.id
}

// BenchmarkClickToMask is the round trip of one click through HTTP on a cached image with
// vit_b's prompt encoder and mask decoder: POST /api/predict with one point, multimask (3
// masks of 1024×768, as the page asks for a first click) as COCO RLE, answer read and
// decoded. decode_ms is the server's prompt encoder + decoder + upscaling share.
//
//	go test -run '^$' -bench ClickToMask -benchtime 20x ./serve/
func BenchmarkClickToMask(b *testing.B) {
	for _, c := range []struct {
		name      string
		multimask bool
		format    string
	}{{"multimask-rle", true, FormatCOCORLE}, {"single-rle", false, FormatCOCORLE}, {"multimask-png", true, FormatPNG}} {
		b.Run(c.name, func(b *testing.B) {
			ts, id := benchServer(b)
			client := ts.Client()
			var decode, output float64
			i := 0
			for b.Loop() {
				i++
				body, _ := json.Marshal(PredictRequest{ImageID: id, Multimask: c.multimask, MaskFormat: c.format,
					Prompts: []PromptRequest{{Points: [][]float64{{float64(100 + 37*i%800), float64(80 + 23*i%600)}}}}})
				res, err := client.Post(ts.URL+"/api/predict", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				var resp PredictResponse
				err = json.NewDecoder(res.Body).Decode(&resp)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusOK {
					b.Fatalf("status %d: %v", res.StatusCode, err)
				}
				decode += resp.DecodeMS
				output += resp.OutputMS
			}
			b.ReportMetric(decode/float64(i), "decode-ms/op")
			b.ReportMetric(output/float64(i), "output-ms/op")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(i), "ms/click")
		})
	}
}
