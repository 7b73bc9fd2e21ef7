package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for uploads
	"image/png"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/metrics/rle"
	"github.com/fovea-ml/fovea/models/sam"
	"github.com/fovea-ml/fovea/models/sam/automask"
	"github.com/fovea-ml/fovea/tensor"
)

// Mask formats of the predict and automask responses (field "mask_format").
const (
	FormatCOCORLE = "coco_rle" // segmentation {"size": [H, W], "counts": "compressed string"} (the default)
	FormatRLE     = "rle"      // segmentation {"size": [H, W], "counts": [runs…]}: COCO's uncompressed RLE
	FormatPNG     = "png"      // png: base64 of a 1-bit PNG, white inside
	FormatNone    = "none"     // only ids, scores, areas and boxes (fetch masks by id)
)

// ImageView describes an uploaded image (POST /api/embed, GET /api/images/{id}).
type ImageView struct {
	ImageID string   `json:"image_id"` // hex SHA-256 of the uploaded file
	Width   int      `json:"width"`
	Height  int      `json:"height"`
	Status  string   `json:"status"` // "ready" (embedding cached), or the embedding job's status
	Job     *JobView `json:"job,omitempty"`
}

// PromptRequest is one prompt in image pixel coordinates (x right, y down, 0…width and
// 0…height).
type PromptRequest struct {
	Points [][]float64 `json:"points,omitempty"` // [[x, y], …]
	Labels []int       `json:"labels,omitempty"` // one per point: 1 foreground, 0 background (default all 1)
	Box    []float64   `json:"box,omitempty"`    // [x0, y0, x1, y1]
	// MaskInputID is the id of an earlier mask of the same image whose low-resolution
	// logits are the mask prompt (SAM's mask_input), typically the chosen mask of the
	// previous click.
	MaskInputID string `json:"mask_input_id,omitempty"`
	// MaskInput is a mask prompt given directly: base64 of (4G)² little-endian float32
	// logits, row-major (256×256 for the official models).
	MaskInput string `json:"mask_input,omitempty"`
}

// PredictRequest is the body of POST /api/predict.
type PredictRequest struct {
	ImageID    string          `json:"image_id"`
	Prompts    []PromptRequest `json:"prompts"`
	Multimask  bool            `json:"multimask,omitempty"`   // three masks per prompt instead of one
	MaskFormat string          `json:"mask_format,omitempty"` // coco_rle (default), rle, png or none
}

// Mask is one mask of a response.
type Mask struct {
	ID             string                 `json:"id"`    // for GET /api/masks/{id}.png|.json and mask_input_id
	Score          float64                `json:"score"` // the predicted IoU
	StabilityScore *float64               `json:"stability_score,omitempty"`
	Area           int                    `json:"area"`
	BBox           [4]float64             `json:"bbox"` // x, y, width, height (COCO's)
	PointCoords    [][2]float64           `json:"point_coords,omitempty"`
	CropBox        *[4]int                `json:"crop_box,omitempty"`
	Segmentation   *automask.Segmentation `json:"segmentation,omitempty"`
	PNG            string                 `json:"png,omitempty"`
}

// PromptResult holds the masks answering one prompt; Best indexes the highest score.
type PromptResult struct {
	Masks []Mask `json:"masks"`
	Best  int    `json:"best"`
}

// PredictResponse is the answer of POST /api/predict.
type PredictResponse struct {
	ImageID  string         `json:"image_id"`
	Width    int            `json:"width"`
	Height   int            `json:"height"`
	Results  []PromptResult `json:"results"`   // one per prompt, in order
	DecodeMS float64        `json:"decode_ms"` // prompt encoder, mask decoder, upscaling
	OutputMS float64        `json:"output_ms"` // run-length and PNG encoding
}

// AutomaskRequest is the body of POST /api/automask.
type AutomaskRequest struct {
	ImageID string `json:"image_id"`
	// Options are SamAutomaticMaskGenerator's keyword arguments (points_per_side,
	// pred_iou_thresh, …; output_mode is ignored); omitted ones take its defaults.
	Options    json.RawMessage `json:"options,omitempty"`
	MaskFormat string          `json:"mask_format,omitempty"`
}

// AutomaskResult is the result of an automask job.
type AutomaskResult struct {
	ImageID string `json:"image_id"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Masks   []Mask `json:"masks"`
}

// Limits of automatic mask requests, so that one request cannot occupy the server for
// hours.
const (
	maxPointsPerSide = 128
	maxCropLayers    = 3
	maxGridPoints    = 1 << 16
)

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.needModel(); err != nil {
		return 0, nil, err
	}
	wait, err := queryBool(r, "wait")
	if err != nil {
		return 0, nil, err
	}
	data, err := s.readUpload(w, r)
	if err != nil {
		return 0, nil, err
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	e, added, err := s.images.getOrAdd(id, func() (*imageEntry, error) {
		pix, h, wd, err := s.decodeImage(data)
		if err != nil {
			return nil, err
		}
		j, err := s.jobs.add("embed", id)
		if err != nil {
			return nil, errorf(http.StatusTooManyRequests, "", "%d jobs are queued or running; retry later", s.cfg.MaxJobs)
		}
		return &imageEntry{id: id, w: wd, h: h, pix: pix, job: j}, nil
	})
	if err != nil {
		return 0, nil, err
	}
	if added {
		s.startJob(e.job, func(j *job) (any, error) {
			p := sam.NewPredictor(s.cfg.Model)
			j.progress("encoder", 0, 0)
			err := p.SetImageRGB(e.pix, e.h, e.w, func(done, total int) { j.progress("encoder", done, total) })
			if err != nil {
				s.images.remove(e)
				return nil, errorf(http.StatusBadRequest, "image", "%v", err)
			}
			s.images.setReady(e, p)
			return nil, nil
		})
	}
	if wait {
		e.job.wait(r.Context())
	}
	return s.imageView(e)
}

// imageView is the answer about an image: 200 once its embedding is ready, 202 while it
// runs, the job's error if it failed.
func (s *Server) imageView(e *imageEntry) (int, any, error) {
	jv := e.job.view()
	v := ImageView{ImageID: e.id, Width: e.w, Height: e.h, Status: jv.Status, Job: &jv}
	switch jv.Status {
	case jobDone:
		v.Status = "ready"
		return http.StatusOK, v, nil
	case jobFailed:
		_, err := e.job.state()
		return 0, nil, err
	}
	return http.StatusAccepted, v, nil
}

func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	e, _, ok := s.images.get(id)
	if !ok {
		return 0, nil, errorf(http.StatusNotFound, "image_id", "%q is not a cached image (evicted, or never uploaded): POST it to /api/embed", id)
	}
	return s.imageView(e)
}

// readUpload reads the uploaded image file: the request body, or the file field "image"
// of a multipart form.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
	field := "body"
	var src io.Reader = r.Body
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "body", "malformed multipart form: %v", err)
		}
		field = "image"
		src = nil
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, s.uploadError(field, err)
			}
			if part.FormName() == "image" {
				src = part
				break
			}
		}
		if src == nil {
			return nil, errorf(http.StatusBadRequest, "image", "the multipart form has no file field \"image\"")
		}
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return nil, s.uploadError(field, err)
	}
	if len(data) == 0 {
		return nil, errorf(http.StatusBadRequest, field, "empty: send a PNG or JPEG file as the request body or as the multipart file field \"image\"")
	}
	return data, nil
}

func (s *Server) uploadError(field string, err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errorf(http.StatusRequestEntityTooLarge, field, "larger than the upload limit of %d bytes (--max-upload)", mb.Limit)
	}
	return errorf(http.StatusBadRequest, field, "reading the upload: %v", err)
}

// decodeImage checks the header of an uploaded PNG or JPEG (format and pixel count,
// before any pixel is decoded) and decodes it to RGB bytes (h, w, 3).
func (s *Server) decodeImage(data []byte) (pix []uint8, h, w int, err error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, 0, 0, errorf(http.StatusUnsupportedMediaType, "image", "not a PNG or JPEG image (%v)", err)
	}
	if format != "png" && format != "jpeg" {
		return nil, 0, 0, errorf(http.StatusUnsupportedMediaType, "image", "a %s image: want PNG or JPEG", format)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, 0, 0, errorf(http.StatusBadRequest, "image", "the %s header says %d×%d pixels", format, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > int64(s.cfg.MaxPixels) {
		return nil, 0, 0, errorf(http.StatusRequestEntityTooLarge, "image", "%d×%d = %.1f megapixels, more than the limit of %.1f megapixels (--max-pixels)",
			cfg.Width, cfg.Height, float64(n)/1e6, float64(s.cfg.MaxPixels)/1e6)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, 0, errorf(http.StatusBadRequest, "image", "corrupt %s: %v", format, err)
	}
	pix, h, w, c := augment.GoImageToHWC(img)
	if c == 1 {
		rgb := make([]uint8, 0, h*w*3)
		for _, v := range pix {
			rgb = append(rgb, v, v, v)
		}
		pix = rgb
	}
	return pix, h, w, nil
}

// readyImage returns the cached image id with its predictor, or the error explaining why
// prompts cannot be answered on it yet.
func (s *Server) readyImage(id string) (*imageEntry, *sam.Predictor, error) {
	if id == "" {
		return nil, nil, errorf(http.StatusBadRequest, "image_id", "missing: upload the image to /api/embed first and pass its image_id")
	}
	e, p, ok := s.images.get(id)
	if !ok {
		return nil, nil, errorf(http.StatusNotFound, "image_id", "%q is not a cached image (evicted, or never uploaded): POST it to /api/embed", id)
	}
	if p == nil {
		return nil, nil, errorf(http.StatusConflict, "image_id", "the embedding of %s is still being computed: poll GET /api/jobs/%s", id, e.job.id)
	}
	return e, p, nil
}

func checkFormat(f string) (string, error) {
	switch f {
	case "":
		return FormatCOCORLE, nil
	case FormatCOCORLE, FormatRLE, FormatPNG, FormatNone:
		return f, nil
	}
	return "", errorf(http.StatusBadRequest, "mask_format", "%q: want coco_rle, rle, png or none", f)
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.needModel(); err != nil {
		return 0, nil, err
	}
	var req PredictRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	format, err := checkFormat(req.MaskFormat)
	if err != nil {
		return 0, nil, err
	}
	e, p, err := s.readyImage(req.ImageID)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case len(req.Prompts) == 0:
		return 0, nil, errorf(http.StatusBadRequest, "prompts", "missing: give at least one prompt with points or a box")
	case len(req.Prompts) > s.cfg.MaxPrompts:
		return 0, nil, errorf(http.StatusBadRequest, "prompts", "%d prompts, more than the limit of %d per request", len(req.Prompts), s.cfg.MaxPrompts)
	}
	prompts := make([]sam.Prompt, len(req.Prompts))
	for i, pr := range req.Prompts {
		if prompts[i], err = s.prompt(i, pr, e); err != nil {
			return 0, nil, err
		}
	}
	v, err := s.compute(r.Context(), func() (any, error) {
		start := time.Now()
		results, err := p.PredictBatch(prompts, sam.Options{Multimask: req.Multimask})
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "prompts", "%v", err)
		}
		decoded := time.Now()
		resp := PredictResponse{ImageID: e.id, Width: e.w, Height: e.h, Results: make([]PromptResult, len(results)),
			DecodeMS: decoded.Sub(start).Seconds() * 1000}
		for i, res := range results {
			resp.Results[i] = s.promptResult(e, res, format)
		}
		resp.OutputMS = time.Since(decoded).Seconds() * 1000
		return resp, nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

// prompt checks prompt i of a request against the image and converts it.
func (s *Server) prompt(i int, pr PromptRequest, e *imageEntry) (sam.Prompt, error) {
	field := fmt.Sprintf("prompts[%d]", i)
	var out sam.Prompt
	if len(pr.Points) == 0 && pr.Box == nil {
		return out, errorf(http.StatusBadRequest, field, "no points and no box: a prompt needs at least one of them")
	}
	if len(pr.Points) > s.cfg.MaxPoints {
		return out, errorf(http.StatusBadRequest, field+".points", "%d points, more than the limit of %d per prompt", len(pr.Points), s.cfg.MaxPoints)
	}
	if pr.Labels != nil && len(pr.Labels) != len(pr.Points) {
		return out, errorf(http.StatusBadRequest, field+".labels", "%d labels for %d points: want one per point (or none: all foreground)", len(pr.Labels), len(pr.Points))
	}
	inside := func(x, y float64) bool { return x >= 0 && y >= 0 && x <= float64(e.w) && y <= float64(e.h) }
	for j, pt := range pr.Points {
		f := fmt.Sprintf("%s.points[%d]", field, j)
		if len(pt) != 2 {
			return out, errorf(http.StatusBadRequest, f, "%d numbers: want [x, y]", len(pt))
		}
		if !inside(pt[0], pt[1]) {
			return out, errorf(http.StatusBadRequest, f, "(%g, %g) is outside the %d×%d image (x in 0…%d, y in 0…%d)", pt[0], pt[1], e.w, e.h, e.w, e.h)
		}
		label := 1
		if pr.Labels != nil {
			label = pr.Labels[j]
			if label != 0 && label != 1 {
				return out, errorf(http.StatusBadRequest, fmt.Sprintf("%s.labels[%d]", field, j), "%d: want 1 (foreground) or 0 (background)", label)
			}
		}
		out.Points = append(out.Points, [2]float32{float32(pt[0]), float32(pt[1])})
		out.Labels = append(out.Labels, label)
	}
	if pr.Box != nil {
		b := pr.Box
		switch {
		case len(b) != 4:
			return out, errorf(http.StatusBadRequest, field+".box", "%d numbers: want [x0, y0, x1, y1]", len(b))
		case b[2] < b[0] || b[3] < b[1]:
			return out, errorf(http.StatusBadRequest, field+".box", "%v: want x0 ≤ x1 and y0 ≤ y1", b)
		case !inside(b[0], b[1]) || !inside(b[2], b[3]):
			return out, errorf(http.StatusBadRequest, field+".box", "%v reaches outside the %d×%d image", b, e.w, e.h)
		}
		out.Box = &[4]float32{float32(b[0]), float32(b[1]), float32(b[2]), float32(b[3])}
	}
	mi := s.cfg.Model.Config.MaskInputSize()
	switch {
	case pr.MaskInputID != "" && pr.MaskInput != "":
		return out, errorf(http.StatusBadRequest, field, "both mask_input_id and mask_input: give one")
	case pr.MaskInputID != "":
		m, ok := s.masks.get(pr.MaskInputID)
		switch {
		case !ok:
			return out, errorf(http.StatusNotFound, field+".mask_input_id", "%q is not a kept mask (evicted, or never made)", pr.MaskInputID)
		case m.imageID != e.id:
			return out, errorf(http.StatusBadRequest, field+".mask_input_id", "mask %s belongs to another image", pr.MaskInputID)
		case m.lowRes == nil:
			return out, errorf(http.StatusBadRequest, field+".mask_input_id", "mask %s has no low-resolution logits (automatic masks have none)", pr.MaskInputID)
		}
		out.MaskInput = tensor.New(m.lowRes, mi, mi)
	case pr.MaskInput != "":
		b, err := base64.StdEncoding.DecodeString(pr.MaskInput)
		if err != nil {
			return out, errorf(http.StatusBadRequest, field+".mask_input", "not base64: %v", err)
		}
		if len(b) != 4*mi*mi {
			return out, errorf(http.StatusBadRequest, field+".mask_input", "%d bytes: want %d×%d little-endian float32 = %d bytes", len(b), mi, mi, 4*mi*mi)
		}
		d := make([]float32, mi*mi)
		for k := range d {
			d[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
			if math.IsNaN(float64(d[k])) || math.IsInf(float64(d[k]), 0) {
				return out, errorf(http.StatusBadRequest, field+".mask_input", "value %d is %v: want finite logits", k, d[k])
			}
		}
		out.MaskInput = tensor.New(d, mi, mi)
	}
	return out, nil
}

// promptResult keeps the masks of one prompt and formats them.
func (s *Server) promptResult(e *imageEntry, res sam.Result, format string) PromptResult {
	k := res.Masks.SizeOf(0)
	n := e.h * e.w
	md, ld := res.Masks.Data(), res.LowRes.Data()
	lper := len(ld) / k
	out := PromptResult{Masks: make([]Mask, k)}
	bin := make([]uint8, n)
	for j := 0; j < k; j++ {
		for i, v := range md[j*n : (j+1)*n] {
			bin[i] = 0
			if v > 0 {
				bin[i] = 1
			}
		}
		r := rle.Encode(bin, e.h, e.w)
		me := &maskEntry{imageID: e.id, rle: r, lowRes: ld[j*lper : (j+1)*lper], score: float64(res.IoU[j])}
		id := s.masks.add(me)
		out.Masks[j] = formatMask(Mask{ID: id, Score: me.score, Area: int(r.Area()), BBox: r.Bbox()}, r, bin, format)
		if res.IoU[j] > res.IoU[out.Best] {
			out.Best = j
		}
	}
	return out
}

// formatMask fills m's segmentation or PNG as format says; bin is the binary mask (H, W)
// row-major when at hand (nil: decoded from r when needed).
func formatMask(m Mask, r rle.RLE, bin []uint8, format string) Mask {
	switch format {
	case FormatCOCORLE:
		m.Segmentation = &automask.Segmentation{RLE: r, Mode: automask.COCORLE}
	case FormatRLE:
		m.Segmentation = &automask.Segmentation{RLE: r, Mode: automask.UncompressedRLE}
	case FormatPNG:
		if bin == nil {
			bin = r.Decode()
		}
		var buf bytes.Buffer
		encodeMaskPNG(&buf, bin, r.H, r.W)
		m.PNG = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return m
}

var maskPalette = color.Palette{color.Gray{0}, color.Gray{255}}

// encodeMaskPNG writes a binary mask (h, w) as a 1-bit PNG, white inside.
func encodeMaskPNG(w io.Writer, bin []uint8, h, wd int) error {
	img := &image.Paletted{Pix: bin, Stride: wd, Rect: image.Rect(0, 0, wd, h), Palette: maskPalette}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, img)
}

func (s *Server) handleAutomask(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.needModel(); err != nil {
		return 0, nil, err
	}
	wait, err := queryBool(r, "wait")
	if err != nil {
		return 0, nil, err
	}
	var req AutomaskRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	format, err := checkFormat(req.MaskFormat)
	if err != nil {
		return 0, nil, err
	}
	opt, err := automaskOptions(req.Options)
	if err != nil {
		return 0, nil, err
	}
	e, p, err := s.readyImage(req.ImageID)
	if err != nil {
		return 0, nil, err
	}
	j, err := s.jobs.add("automask", e.id)
	if err != nil {
		return 0, nil, errorf(http.StatusTooManyRequests, "", "%d jobs are queued or running; retry later", s.cfg.MaxJobs)
	}
	s.startJob(j, func(j *job) (any, error) {
		opt.Progress = func(done, total int) { j.progress("decoder", done, total) }
		opt.EncodeProgress = func(crop, crops, done, total int) {
			j.progress(fmt.Sprintf("encoder, crop %d of %d", crop+1, crops), done, total)
		}
		g, err := automask.New(s.cfg.Model, opt)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "options", "%v", err)
		}
		features, _, _ := p.Embedding()
		recs, err := g.GenerateWithEmbedding(e.pix, e.h, e.w, features)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "options", "%v", err)
		}
		res := AutomaskResult{ImageID: e.id, Width: e.w, Height: e.h, Masks: make([]Mask, len(recs))}
		for i, rec := range recs {
			r := rec.Segmentation.RLE
			id := s.masks.add(&maskEntry{imageID: e.id, rle: r, score: rec.PredictedIoU})
			m := Mask{ID: id, Score: rec.PredictedIoU, Area: rec.Area, BBox: r.Bbox(), PointCoords: rec.PointCoords}
			if st := rec.StabilityScore; !math.IsNaN(st) {
				m.StabilityScore = &st
			}
			cb := rec.CropBox
			m.CropBox = &cb
			res.Masks[i] = formatMask(m, r, nil, format)
		}
		return res, nil
	})
	if wait {
		j.wait(r.Context())
	}
	jv := j.view()
	if jv.Status == jobFailed {
		_, err := j.state()
		return 0, nil, err
	}
	if jv.Status == jobDone {
		return http.StatusOK, jv, nil
	}
	return http.StatusAccepted, jv, nil
}

// automaskOptions reads the generator's options over its defaults.
func automaskOptions(raw json.RawMessage) (automask.Options, error) {
	opt := automask.DefaultOptions()
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&opt); err != nil {
			return opt, jsonError(err, "options.")
		}
	}
	opt.OutputMode = automask.UncompressedRLE
	if opt.PointsPerSide > maxPointsPerSide {
		return opt, errorf(http.StatusBadRequest, "options.points_per_side", "%d, more than the limit of %d", opt.PointsPerSide, maxPointsPerSide)
	}
	if opt.CropNLayers > maxCropLayers {
		return opt, errorf(http.StatusBadRequest, "options.crop_n_layers", "%d, more than the limit of %d", opt.CropNLayers, maxCropLayers)
	}
	n := 0
	for _, g := range opt.PointGrids {
		n += len(g)
	}
	if n > maxGridPoints {
		return opt, errorf(http.StatusBadRequest, "options.point_grids", "%d points, more than the limit of %d", n, maxGridPoints)
	}
	if err := opt.Validate(); err != nil {
		return opt, errorf(http.StatusBadRequest, "options", "%s", strings.TrimPrefix(err.Error(), "automask: "))
	}
	return opt, nil
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	j, ok := s.jobs.get(id)
	if !ok {
		return 0, nil, errorf(http.StatusNotFound, "job", "%q is not a known job", id)
	}
	wait, err := queryBool(r, "wait")
	if err != nil {
		return 0, nil, err
	}
	if wait {
		j.wait(r.Context())
	}
	return http.StatusOK, j.view(), nil
}

// handleMask serves GET /api/masks/{id}.png (a 1-bit PNG, white inside) and
// /api/masks/{id}.json (the mask with its COCO RLE).
func (s *Server) handleMask(w http.ResponseWriter, r *http.Request) (int, any, error) {
	file := r.PathValue("file")
	id, ext := file, ""
	if i := strings.LastIndexByte(file, '.'); i >= 0 {
		id, ext = file[:i], file[i+1:]
	}
	if ext != "png" && ext != "json" {
		return 0, nil, errorf(http.StatusNotFound, "mask", "%q: want /api/masks/ID.png or /api/masks/ID.json", file)
	}
	m, ok := s.masks.get(id)
	if !ok {
		return 0, nil, errorf(http.StatusNotFound, "mask", "%q is not a kept mask (evicted, or never made)", id)
	}
	if ext == "json" {
		out := struct {
			Mask
			ImageID string `json:"image_id"`
		}{formatMask(Mask{ID: m.id, Score: m.score, Area: int(m.rle.Area()), BBox: m.rle.Bbox()}, m.rle, nil, FormatCOCORLE), m.imageID}
		return http.StatusOK, out, nil
	}
	var buf bytes.Buffer
	if err := encodeMaskPNG(&buf, m.rle.Decode(), m.rle.H, m.rle.W); err != nil {
		return 0, nil, err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "mask_"+id+".png"))
	w.Write(buf.Bytes())
	return 0, nil, nil
}

// decodeJSON reads the request body as one JSON value into v, refusing unknown fields.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, "")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return jsonError(err, "")
		}
		return errorf(http.StatusBadRequest, "body", "more than one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a 400 (413 for a body over the limit) naming
// the field; prefix is prepended to field names ("options.").
func jsonError(err error, prefix string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return errorf(http.StatusRequestEntityTooLarge, "body", "larger than the limit of %d bytes", mb.Limit)
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "body", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		} else {
			field = prefix + field
		}
		return errorf(http.StatusBadRequest, field, "got a JSON %s, want %s", te.Value, jsonKind(te.Type.Kind().String()))
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "body", "empty: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "body", "malformed JSON: it ends early")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errorf(http.StatusBadRequest, prefix+strings.Trim(name, `"`), "unknown field")
	}
	return errorf(http.StatusBadRequest, "body", "%v", err)
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "a number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "slice", k == "array":
		return "an array"
	}
	return "an object"
}
