package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/automask"
	"github.com/fovea-ml/fovea/tensor"
)

var (
	modelOnce sync.Once
	model     *sam.Model
	modelErr  error
)

// tinyModel is the tiny random-weight SAM of models/sam's fixtures (64 px input, 8×8
// embedding): fast enough for every test.
func tinyModel(t testing.TB) *sam.Model {
	t.Helper()
	modelOnce.Do(func() {
		dir := filepath.Join("..", "testdata", "sam")
		model, modelErr = sam.Load(filepath.Join(dir, "tiny_win.pth"), filepath.Join(dir, "tiny_win.json"))
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

// testImage returns the bytes of a 150×100 PNG photo-like test image.
func testImage(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "sam", "automask_image_big.png"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Model == nil {
		cfg.Model = tinyModel(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// call makes a request and decodes the JSON answer into out (if not nil); it returns the
// status and the raw body.
func call(t testing.TB, ts *httptest.Server, method, path, contentType string, body []byte, out any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return res.StatusCode, raw
}

func postJSON(t testing.TB, ts *httptest.Server, path string, v any, out any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return call(t, ts, http.MethodPost, path, "application/json", b, out)
}

// embedImage uploads img and waits for its embedding; it returns the image id.
func embedImage(t testing.TB, ts *httptest.Server, img []byte) string {
	t.Helper()
	var v ImageView
	st, raw := call(t, ts, http.MethodPost, "/api/embed?wait=1", "image/png", img, &v)
	for st == http.StatusAccepted { // the request timeout came first
		var jv JobView
		st, raw = call(t, ts, http.MethodGet, "/api/jobs/"+v.Job.ID+"?wait=1", "", nil, &jv)
		if jv.Status == jobDone {
			return v.ImageID
		}
		if st == http.StatusOK {
			st = http.StatusAccepted
		}
	}
	if st != http.StatusOK || v.Status != "ready" {
		t.Fatalf("embed: %d %s", st, raw)
	}
	return v.ImageID
}

// setHook makes every computation call f first.
func (s *Server) setHook(f func()) { s.beforeCompute.Store(&f) }

// direct returns the predictor's answer to prompts without the server.
func direct(t testing.TB, img []byte, prompts []sam.Prompt, multimask bool) []sam.Result {
	t.Helper()
	p := sam.NewPredictor(tinyModel(t))
	im, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetImage(im, nil); err != nil {
		t.Fatal(err)
	}
	rs, err := p.PredictBatch(prompts, sam.Options{Multimask: multimask})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// binary returns mask k of r as 0/1 bytes.
func binaryMask(r sam.Result, k int) []uint8 {
	h, w := r.Masks.SizeOf(1), r.Masks.SizeOf(2)
	out := make([]uint8, h*w)
	for i, v := range r.Masks.Data()[k*h*w : (k+1)*h*w] {
		if v > 0 {
			out[i] = 1
		}
	}
	return out
}

func decodeSeg(t testing.TB, m Mask) []uint8 {
	t.Helper()
	if m.Segmentation == nil {
		t.Fatalf("mask %s has no segmentation", m.ID)
	}
	return m.Segmentation.RLE.Decode()
}

func TestHealth(t *testing.T) {
	_, ts := newServer(t, Config{MaxConcurrent: 2})
	var h Health
	if st, raw := call(t, ts, http.MethodGet, "/api/health", "", nil, &h); st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	if h.Status != "ok" || h.ImageSize != 64 || h.MaskInputSize != 32 || h.MaxConcurrent != 2 || !strings.Contains(h.Model, "ViT") {
		t.Errorf("health %+v", h)
	}
}

// The masks of POST /api/predict are those sam.Predictor gives, in every mask format,
// and the uploaded image's embedding is cached by content.
func TestEmbedAndPredict(t *testing.T) {
	s, ts := newServer(t, Config{})
	img := testImage(t)
	var first ImageView
	st, raw := call(t, ts, http.MethodPost, "/api/embed", "image/png", img, &first)
	if st != http.StatusAccepted && st != http.StatusOK {
		t.Fatalf("embed: %d %s", st, raw)
	}
	if first.Width != 150 || first.Height != 100 || len(first.ImageID) != 64 || first.Job == nil {
		t.Fatalf("embed answer %+v", first)
	}
	var jv JobView
	if st, raw := call(t, ts, http.MethodGet, "/api/jobs/"+first.Job.ID+"?wait=1", "", nil, &jv); st != 200 || jv.Status != jobDone {
		t.Fatalf("job: %d %s", st, raw)
	}
	if jv.Stage != "encoder" || jv.Total == 0 || jv.Done != jv.Total {
		t.Errorf("embedding progress %+v, want the encoder's stages done", jv)
	}
	var again ImageView
	if st, raw := call(t, ts, http.MethodPost, "/api/embed", "image/png", img, &again); st != http.StatusOK || again.Status != "ready" || again.ImageID != first.ImageID {
		t.Fatalf("second upload of the same image: %d %s, want 200 ready from the cache", st, raw)
	}
	if ready, _ := s.images.len(); ready != 1 {
		t.Errorf("%d cached embeddings, want 1", ready)
	}
	var iv ImageView
	if st, raw := call(t, ts, http.MethodGet, "/api/images/"+first.ImageID, "", nil, &iv); st != 200 || iv.Status != "ready" {
		t.Errorf("GET image: %d %s", st, raw)
	}

	id := first.ImageID
	prompt := sam.Prompt{Points: [][2]float32{{70, 40}, {20, 80}}, Labels: []int{1, 0}}
	want := direct(t, img, []sam.Prompt{prompt}, true)[0]
	for _, format := range []string{"", FormatCOCORLE, FormatRLE, FormatPNG, FormatNone} {
		var resp PredictResponse
		st, raw := postJSON(t, ts, "/api/predict", map[string]any{
			"image_id": id, "multimask": true, "mask_format": format,
			"prompts": []map[string]any{{"points": [][]float64{{70, 40}, {20, 80}}, "labels": []int{1, 0}}},
		}, &resp)
		if st != 200 {
			t.Fatalf("predict %q: %d %s", format, st, raw)
		}
		if len(resp.Results) != 1 || len(resp.Results[0].Masks) != 3 || resp.Width != 150 || resp.Height != 100 {
			t.Fatalf("predict %q: %s", format, raw)
		}
		best := 0
		for k, m := range resp.Results[0].Masks {
			if float32(m.Score) != want.IoU[k] {
				t.Errorf("format %q mask %d: score %v, want %v", format, k, m.Score, want.IoU[k])
			}
			if want.IoU[k] > want.IoU[best] {
				best = k
			}
			wm := binaryMask(want, k)
			r := rle.Encode(wm, 100, 150)
			if m.Area != int(r.Area()) || m.BBox != r.Bbox() {
				t.Errorf("format %q mask %d: area %d bbox %v, want %d %v", format, k, m.Area, m.BBox, r.Area(), r.Bbox())
			}
			var got []uint8
			switch format {
			case FormatNone:
				if m.Segmentation != nil || m.PNG != "" {
					t.Errorf("format none gave a mask")
				}
				continue
			case FormatPNG:
				b, err := base64.StdEncoding.DecodeString(m.PNG)
				if err != nil {
					t.Fatal(err)
				}
				got = pngMask(t, b)
			default:
				got = decodeSeg(t, m)
			}
			if !bytes.Equal(got, wm) {
				t.Errorf("format %q mask %d differs from the predictor's", format, k)
			}
			// The kept mask downloads as PNG and as JSON.
			st, b := call(t, ts, http.MethodGet, "/api/masks/"+m.ID+".png", "", nil, nil)
			if st != 200 || !bytes.Equal(pngMask(t, b), wm) {
				t.Errorf("GET /api/masks/%s.png: %d, or a different mask", m.ID, st)
			}
			var mj struct {
				Mask
				ImageID string `json:"image_id"`
			}
			if st, raw := call(t, ts, http.MethodGet, "/api/masks/"+m.ID+".json", "", nil, &mj); st != 200 || mj.ImageID != id || !bytes.Equal(decodeSeg(t, mj.Mask), wm) {
				t.Errorf("GET /api/masks/%s.json: %d %.200s", m.ID, st, raw)
			}
		}
		if resp.Results[0].Best != best {
			t.Errorf("best %d, want %d", resp.Results[0].Best, best)
		}
	}
}

func pngMask(t testing.TB, b []byte) []uint8 {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	out := make([]uint8, r.Dx()*r.Dy())
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			if g, _, _, _ := img.At(x, y).RGBA(); g > 0x8000 {
				out[y*r.Dx()+x] = 1
			}
		}
	}
	return out
}

// Batched mixed prompts and mask prompts (by id and as base64) answer as the predictor does.
func TestPredictBatchAndMaskInput(t *testing.T) {
	_, ts := newServer(t, Config{})
	img := testImage(t)
	id := embedImage(t, ts, img)
	var first PredictResponse
	if st, raw := postJSON(t, ts, "/api/predict", map[string]any{"image_id": id, "prompts": []map[string]any{{"points": [][]float64{{30, 30}}}}}, &first); st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	m0 := first.Results[0].Masks[0]
	low := direct(t, img, []sam.Prompt{{Points: [][2]float32{{30, 30}}, Labels: []int{1}}}, false)[0].LowRes
	lowB := make([]byte, 4*low.Size())
	for i, v := range low.Data() {
		binary.LittleEndian.PutUint32(lowB[4*i:], math.Float32bits(v))
	}
	box := [4]float32{10, 20, 90, 80}
	prompts := []sam.Prompt{
		{Points: [][2]float32{{40, 50}}, Labels: []int{1}},
		{Box: &box},
		{Points: [][2]float32{{40, 50}, {100, 20}}, Labels: []int{1, 0}, Box: &box},
		{Points: [][2]float32{{60, 60}}, Labels: []int{1}, MaskInput: tensor.New(low.Data(), 32, 32)},
		{Points: [][2]float32{{60, 60}}, Labels: []int{1}, MaskInput: tensor.New(low.Data(), 32, 32)},
	}
	want := direct(t, img, prompts, false)
	var resp PredictResponse
	st, raw := postJSON(t, ts, "/api/predict", map[string]any{"image_id": id, "prompts": []map[string]any{
		{"points": [][]float64{{40, 50}}},
		{"box": []float64{10, 20, 90, 80}},
		{"points": [][]float64{{40, 50}, {100, 20}}, "labels": []int{1, 0}, "box": []float64{10, 20, 90, 80}},
		{"points": [][]float64{{60, 60}}, "mask_input_id": m0.ID},
		{"points": [][]float64{{60, 60}}, "mask_input": base64.StdEncoding.EncodeToString(lowB)},
	}}, &resp)
	if st != 200 || len(resp.Results) != len(prompts) {
		t.Fatalf("%d %s", st, raw)
	}
	for i, r := range resp.Results {
		if len(r.Masks) != 1 {
			t.Fatalf("prompt %d: %d masks, want 1", i, len(r.Masks))
		}
		if !bytes.Equal(decodeSeg(t, r.Masks[0]), binaryMask(want[i], 0)) || float32(r.Masks[0].Score) != want[i].IoU[0] {
			t.Errorf("prompt %d: mask or score differs from the predictor's", i)
		}
	}
}

func TestAutomask(t *testing.T) {
	_, ts := newServer(t, Config{})
	img := testImage(t)
	id := embedImage(t, ts, img)
	opts := map[string]any{"points_per_side": 4, "pred_iou_thresh": 0, "stability_score_thresh": 0.2, "stability_score_offset": 0.01, "box_nms_thresh": 0.98}
	var jv JobView
	st, raw := postJSON(t, ts, "/api/automask?wait=1", map[string]any{"image_id": id, "options": opts}, &jv)
	if st != 200 || jv.Status != jobDone || jv.Stage != "decoder" || jv.Done != jv.Total {
		t.Fatalf("%d %.300s", st, raw)
	}
	b, _ := json.Marshal(jv.Result)
	var res AutomaskResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// The same records as the generator run directly.
	o := automask.DefaultOptions()
	o.PointsPerSide, o.PredIoUThresh, o.StabilityScoreThresh, o.StabilityScoreOffset, o.BoxNMSThresh = 4, 0, 0.2, 0.01, 0.98
	g, err := automask.New(tinyModel(t), o)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := png.Decode(bytes.NewReader(img))
	recs, err := g.GenerateImage(im)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || len(res.Masks) != len(recs) {
		t.Fatalf("%d masks, the generator gives %d", len(res.Masks), len(recs))
	}
	for i, r := range recs {
		m := res.Masks[i]
		if !bytes.Equal(decodeSeg(t, m), r.Segmentation.RLE.Decode()) || m.Score != r.PredictedIoU || m.Area != r.Area {
			t.Errorf("mask %d differs from the generator's record", i)
		}
		if st, _ := call(t, ts, http.MethodGet, "/api/masks/"+m.ID+".png", "", nil, nil); st != 200 {
			t.Errorf("mask %s: %d", m.ID, st)
		}
	}
}

// pngHeader returns a PNG that is only a signature, an IHDR claiming w×h pixels and IEND:
// decoding its pixels would fail, so a refusal naming the size proves they were not read.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

func multipartBody(t testing.TB, field string, data []byte) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile(field, "x.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func TestMultipartUpload(t *testing.T) {
	_, ts := newServer(t, Config{})
	body, ct := multipartBody(t, "image", testImage(t))
	var v ImageView
	if st, raw := call(t, ts, http.MethodPost, "/api/embed?wait=true", ct, body, &v); st != 200 || v.Width != 150 {
		t.Fatalf("%d %s", st, raw)
	}
}

// Bad requests get a 4xx JSON error naming the field.
func TestBadRequests(t *testing.T) {
	_, ts := newServer(t, Config{MaxJSONBytes: 4096, MaxUploadBytes: 64 << 10, MaxPrompts: 3})
	id := embedImage(t, ts, testImage(t))
	other := pngHeader(20000, 10000)
	textBody, textCT := multipartBody(t, "file", []byte("hello"))
	pred := func(extra string) string {
		return `{"image_id":"` + id + `",` + extra + `}`
	}
	for _, c := range []struct {
		name, method, path, ct, body string
		status                       int
		field, msg                   string
	}{
		{"malformed JSON", "POST", "/api/predict", "application/json", `{"image_id": "x", "prompts": [`, 400, "body", "malformed JSON"},
		{"syntax error", "POST", "/api/predict", "application/json", `{"image_id": }`, 400, "body", "malformed JSON at byte"},
		{"empty body", "POST", "/api/predict", "application/json", ``, 400, "body", "empty"},
		{"two values", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[1,1]]}]`) + `{}`, 400, "body", "more than one JSON value"},
		{"unknown field", "POST", "/api/predict", "application/json", pred(`"prompt":[]`), 400, "prompt", "unknown field"},
		{"wrong type", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[["a",1]]}]`), 400, "prompts.points", "want a number"},
		{"body too large", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[1,1]]}], "mask_format":"` + strings.Repeat("x", 5000) + `"`), 413, "body", "larger than the limit of 4096 bytes"},
		{"no image id", "POST", "/api/predict", "application/json", `{"prompts":[{"points":[[1,1]]}]}`, 400, "image_id", "missing"},
		{"unknown image", "POST", "/api/predict", "application/json", `{"image_id":"abc","prompts":[{"points":[[1,1]]}]}`, 404, "image_id", "not a cached image"},
		{"no prompts", "POST", "/api/predict", "application/json", pred(`"prompts":[]`), 400, "prompts", "missing"},
		{"too many prompts", "POST", "/api/predict", "application/json", pred(`"prompts":[{"box":[1,1,2,2]},{"box":[1,1,2,2]},{"box":[1,1,2,2]},{"box":[1,1,2,2]}]`), 400, "prompts", "limit of 3"},
		{"empty prompt", "POST", "/api/predict", "application/json", pred(`"prompts":[{}]`), 400, "prompts[0]", "no points and no box"},
		{"point outside", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[10,10],[151,20]]}]`), 400, "prompts[0].points[1]", "outside the 150×100 image"},
		{"negative point", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[10,-1]]}]`), 400, "prompts[0].points[0]", "outside"},
		{"point of 3", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[10,10,1]]}]`), 400, "prompts[0].points[0]", "want [x, y]"},
		{"labels count", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[10,10]],"labels":[1,0]}]`), 400, "prompts[0].labels", "2 labels for 1 points"},
		{"bad label", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[10,10]],"labels":[2]}]`), 400, "prompts[0].labels[0]", "want 1 (foreground) or 0"},
		{"inverted box", "POST", "/api/predict", "application/json", pred(`"prompts":[{"box":[50,50,10,10]}]`), 400, "prompts[0].box", "x0 ≤ x1"},
		{"box outside", "POST", "/api/predict", "application/json", pred(`"prompts":[{"box":[0,0,10,200]}]`), 400, "prompts[0].box", "outside"},
		{"box of 3", "POST", "/api/predict", "application/json", pred(`"prompts":[{"box":[0,0,10]}]`), 400, "prompts[0].box", "want [x0, y0, x1, y1]"},
		{"unknown mask", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[1,1]],"mask_input_id":"m999999"}]`), 404, "prompts[0].mask_input_id", "not a kept mask"},
		{"mask input size", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[1,1]],"mask_input":"AAAAAA=="}]`), 400, "prompts[0].mask_input", "want 32×32"},
		{"mask input base64", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[1,1]],"mask_input":"!!"}]`), 400, "prompts[0].mask_input", "not base64"},
		{"bad format", "POST", "/api/predict", "application/json", pred(`"prompts":[{"points":[[1,1]]}],"mask_format":"gif"`), 400, "mask_format", "want coco_rle"},
		{"non-image upload", "POST", "/api/embed", "image/png", "this is not an image", 415, "image", "not a PNG or JPEG"},
		{"non-image multipart", "POST", "/api/embed", textCT, string(textBody), 400, "image", "no file field"},
		{"200 megapixels", "POST", "/api/embed", "image/png", string(other), 413, "image", "20000×10000 = 200.0 megapixels"},
		{"empty upload", "POST", "/api/embed", "image/png", "", 400, "body", "empty"},
		{"upload too large", "POST", "/api/embed", "image/png", strings.Repeat("x", 70<<10), 413, "body", "upload limit"},
		{"bad wait", "POST", "/api/embed?wait=maybe", "image/png", "x", 400, "wait", "not a boolean"},
		{"automask unknown option", "POST", "/api/automask", "application/json", `{"image_id":"` + id + `","options":{"points_per_sid":4}}`, 400, "options.points_per_sid", "unknown field"},
		{"automask option type", "POST", "/api/automask", "application/json", `{"image_id":"` + id + `","options":{"points_per_side":"4"}}`, 400, "options.points_per_side", "want a number"},
		{"automask too many points", "POST", "/api/automask", "application/json", `{"image_id":"` + id + `","options":{"points_per_side":1000}}`, 400, "options.points_per_side", "limit"},
		{"automask invalid", "POST", "/api/automask", "application/json", `{"image_id":"` + id + `","options":{"points_per_batch":0}}`, 400, "options", "points_per_batch 0"},
		{"unknown job", "GET", "/api/jobs/j999", "", "", 404, "job", "not a known job"},
		{"unknown mask file", "GET", "/api/masks/m999.png", "", "", 404, "mask", "not a kept mask"},
		{"mask extension", "GET", "/api/masks/m1.gif", "", "", 404, "mask", "want /api/masks/ID.png"},
		{"unknown image GET", "GET", "/api/images/abc", "", "", 404, "image_id", "not a cached image"},
		{"wrong method", "GET", "/api/predict", "", "", 405, "", "want POST"},
		{"unknown endpoint", "GET", "/api/nothing", "", "", 404, "", "no API endpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, raw := call(t, ts, c.method, c.path, c.ct, []byte(c.body), nil)
			var e struct{ Error, Field string }
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("status %d, body %q is not JSON: %v", st, raw, err)
			}
			if st != c.status || e.Field != c.field || !strings.Contains(e.Error, c.msg) {
				t.Errorf("got %d field %q error %q; want %d field %q and an error containing %q", st, e.Field, e.Error, c.status, c.field, c.msg)
			}
		})
	}
}

// 100 predict requests at once on one model all answer, each with its own prompt's masks.
func TestConcurrentPredicts(t *testing.T) {
	_, ts := newServer(t, Config{MaxConcurrent: 4, MaxQueue: 100})
	img := testImage(t)
	id := embedImage(t, ts, img)
	const n = 100
	prompts := make([]sam.Prompt, n)
	for i := range prompts {
		prompts[i] = sam.Prompt{Points: [][2]float32{{float32(i%15) * 10, float32(i/15) * 14}}, Labels: []int{1}}
	}
	want := direct(t, img, prompts, false)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(map[string]any{"image_id": id, "prompts": []map[string]any{{"points": [][]float64{{float64(prompts[i].Points[0][0]), float64(prompts[i].Points[0][1])}}}}})
			res, err := ts.Client().Post(ts.URL+"/api/predict", "application/json", bytes.NewReader(b))
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			var resp PredictResponse
			if err := json.NewDecoder(res.Body).Decode(&resp); err != nil || res.StatusCode != 200 {
				errs <- fmt.Errorf("request %d: status %d, %v", i, res.StatusCode, err)
				return
			}
			if !bytes.Equal(resp.Results[0].Masks[0].Segmentation.RLE.Decode(), binaryMask(want[i], 0)) {
				errs <- fmt.Errorf("request %d: wrong mask", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// With every slot and queue place taken, a request gets 429 at once.
func TestBackPressure(t *testing.T) {
	s, ts := newServer(t, Config{MaxConcurrent: 1, MaxQueue: 1})
	id := embedImage(t, ts, testImage(t))
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	s.setHook(func() { started <- struct{}{}; <-release })
	body := `{"image_id":"` + id + `","prompts":[{"points":[[5,5]]}]}`
	results := make(chan int, 2)
	go func() {
		st, _ := call(t, ts, "POST", "/api/predict", "application/json", []byte(body), nil)
		results <- st
	}()
	<-started // the first runs
	go func() {
		st, _ := call(t, ts, "POST", "/api/predict", "application/json", []byte(body), nil)
		results <- st
	}()
	for s.slots.waiting.Load() != 1 { // the second waits in the queue
		time.Sleep(time.Millisecond)
	}
	st, raw := call(t, ts, "POST", "/api/predict", "application/json", []byte(body), nil)
	if st != http.StatusTooManyRequests || !strings.Contains(string(raw), "retry later") {
		t.Errorf("third request: %d %s, want 429", st, raw)
	}
	// Jobs are bounded too.
	close(release)
	for range 2 {
		if st := <-results; st != 200 {
			t.Errorf("queued request: %d", st)
		}
	}
}

func TestJobLimit(t *testing.T) {
	s, ts := newServer(t, Config{MaxJobs: 1})
	release := make(chan struct{})
	s.setHook(func() { <-release })
	defer close(release)
	if st, raw := call(t, ts, "POST", "/api/embed", "image/png", testImage(t), nil); st != http.StatusAccepted {
		t.Fatalf("%d %s", st, raw)
	}
	other, err := os.ReadFile(filepath.Join("..", "testdata", "sam", "automask_image_small.png"))
	if err != nil {
		t.Fatal(err)
	}
	if st, raw := call(t, ts, "POST", "/api/embed", "image/png", other, nil); st != http.StatusTooManyRequests {
		t.Errorf("second job: %d %s, want 429", st, raw)
	}
	// The embedding still running: predict says so.
	var v ImageView
	call(t, ts, "POST", "/api/embed", "image/png", testImage(t), &v)
	st, raw := postJSON(t, ts, "/api/predict", map[string]any{"image_id": v.ImageID, "prompts": []map[string]any{{"points": [][]float64{{1, 1}}}}}, nil)
	if st != http.StatusConflict || !strings.Contains(string(raw), "still being computed") {
		t.Errorf("predict during embedding: %d %s", st, raw)
	}
}

func TestTimeout(t *testing.T) {
	s, ts := newServer(t, Config{Timeout: 50 * time.Millisecond})
	id := embedImage(t, ts, testImage(t))
	s.setHook(func() { time.Sleep(300 * time.Millisecond) })
	st, raw := postJSON(t, ts, "/api/predict", map[string]any{"image_id": id, "prompts": []map[string]any{{"points": [][]float64{{1, 1}}}}}, nil)
	if st != http.StatusServiceUnavailable || !strings.Contains(string(raw), "timeout") {
		t.Errorf("%d %s, want 503 naming the timeout", st, raw)
	}
	s.Shutdown(context.Background()) // waits for the computation left running
}

func TestCacheEviction(t *testing.T) {
	_, ts := newServer(t, Config{CacheImages: 1})
	a := embedImage(t, ts, testImage(t))
	other, err := os.ReadFile(filepath.Join("..", "testdata", "sam", "automask_image_small.png"))
	if err != nil {
		t.Fatal(err)
	}
	b := embedImage(t, ts, other)
	req := func(id string) int {
		st, _ := postJSON(t, ts, "/api/predict", map[string]any{"image_id": id, "prompts": []map[string]any{{"points": [][]float64{{1, 1}}}}}, nil)
		return st
	}
	if st := req(a); st != http.StatusNotFound {
		t.Errorf("evicted image: %d, want 404", st)
	}
	if st := req(b); st != 200 {
		t.Errorf("cached image: %d", st)
	}
}

// Shutdown lets requests in flight finish, refuses new connections, and returns when
// they are done.
func TestGracefulShutdown(t *testing.T) {
	s, err := New(Config{Model: tinyModel(t), MaxConcurrent: 4})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	url := "http://" + l.Addr().String()
	res, err := http.Post(url+"/api/embed?wait=1", "image/png", bytes.NewReader(testImage(t)))
	if err != nil {
		t.Fatal(err)
	}
	var v ImageView
	json.NewDecoder(res.Body).Decode(&v)
	res.Body.Close()

	release := make(chan struct{})
	started := make(chan struct{}, 4)
	s.setHook(func() { started <- struct{}{}; <-release })
	const n = 4
	statuses := make(chan int, n)
	body := `{"image_id":"` + v.ImageID + `","prompts":[{"points":[[5,5]]}]}`
	for range n {
		go func() {
			res, err := http.Post(url+"/api/predict", "application/json", strings.NewReader(body))
			if err != nil {
				statuses <- -1
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	for range n {
		<-started
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	for !s.closing.Load() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := http.Get(url + "/api/health"); err == nil {
		t.Error("a new connection was accepted during shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with requests in flight", err)
	default:
	}
	close(release)
	for range n {
		if st := <-statuses; st != 200 {
			t.Errorf("request in flight: status %d, want 200", st)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
}

// A server without a model serves the dashboard; its SAM endpoints say why they cannot.
func TestDashboardOnlyServer(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	st, raw := call(t, ts, "POST", "/api/embed", "image/png", testImage(t), nil)
	if st != http.StatusServiceUnavailable || !strings.Contains(string(raw), "no SAM model") {
		t.Errorf("embed without a model: %d %s", st, raw)
	}
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/dashboard" {
		t.Errorf("/ without a model: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestStaticFiles(t *testing.T) {
	_, ts := newServer(t, Config{})
	for path, want := range map[string]string{
		"/": "prompt-canvas", "/dashboard": "loss-chart", "/static/app.js": "/api/predict",
		"/static/dashboard.js": "EventSource", "/static/chart.js": "drawChart", "/static/style.css": "#stage",
	} {
		st, raw := call(t, ts, "GET", path, "", nil, nil)
		if st != 200 || !strings.Contains(string(raw), want) {
			t.Errorf("GET %s: %d, no %q", path, st, want)
		}
	}
}

// Compile-time check that image decoders for PNG are linked (used by uploads).
var _ = image.Decode
