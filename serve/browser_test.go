package serve

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/fovea-ml/fovea/train"
)

// chromiumPath finds Debian's chromium (or another Chrome) or returns "".
func chromiumPath() string {
	if p := os.Getenv("FOVEA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the browser test leaves its screenshots and downloads:
// $FOVEA_ARTIFACTS when set, else a temporary folder.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("FOVEA_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	return t.TempDir()
}

// browserCtx starts headless Chromium for a test.
func browserCtx(t *testing.T) context.Context {
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium not found: install Debian's chromium package (apt-get install chromium) or set FOVEA_CHROMIUM to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, as ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, as...); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls a JavaScript condition.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status") ? document.getElementById("status").textContent : ""`))
		t.Fatalf("waiting for %s (%s): %v; page status %q", what, cond, err, status)
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	b := run(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// toClient maps image pixel coordinates to the page's coordinates over #prompt-canvas.
func toClient(t *testing.T, ctx context.Context, x, y float64) (float64, float64) {
	t.Helper()
	var r struct{ Left, Top, Width, Height, W, H float64 }
	b := run(t, ctx, chromedp.Evaluate[[]byte](`(() => { const c = document.getElementById("prompt-canvas"); const r = c.getBoundingClientRect();
		return {left: r.left, top: r.top, width: r.width, height: r.height, w: c.width, h: c.height}; })()`))
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Left + x*r.Width/r.W, r.Top + y*r.Height/r.H
}

// canvasMask returns the mask drawn on #mask-canvas: 1 where a pixel is painted.
func canvasMask(t *testing.T, ctx context.Context) []uint8 {
	t.Helper()
	s := run(t, ctx, chromedp.Evaluate[string](`(() => { const c = document.getElementById("mask-canvas");
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let s = ""; for (let i = 3; i < d.length; i += 4) s += d[i] > 0 ? "1" : "0"; return s; })()`))
	out := make([]uint8, len(s))
	for i := range s {
		out[i] = s[i] - '0'
	}
	return out
}

type pageMask struct {
	ID    string  `json:"id"`
	Area  int     `json:"area"`
	Score float64 `json:"score"`
}

// shownMask returns the mask the page shows: its id and area.
func shownMask(t *testing.T, ctx context.Context) pageMask {
	t.Helper()
	b := run(t, ctx, chromedp.Evaluate[[]byte](`(() => { const r = window.fovea.result; return r.masks[window.fovea.selected]; })()`))
	var m pageMask
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFile waits for a file matching pattern in dir and returns its path.
func waitFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
			if b, err := os.ReadFile(m[0]); err == nil && len(b) > 0 {
				return m[0]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no download %s in %s", pattern, dir)
	return ""
}

// TestBrowser drives the page in headless Chromium: open an image, click a point,
// check the mask canvas against the server's mask pixel for pixel, pick another of the
// multimask answers, add a background point, drag a box, download the masks, segment
// everything, drop a second image; then watch the dashboard draw a short training run.
func TestBrowser(t *testing.T) {
	ctx := browserCtx(t)
	art := artifactDir(t)
	downloads := filepath.Join(art, "downloads")
	if err := os.MkdirAll(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	dash := NewDashboard()
	s, err := New(Config{Model: tinyModel(t), Dashboard: dash})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	defer s.Shutdown(context.Background()) // ends the dashboard's event stream before ts.Close
	start := time.Now()
	phase := func(name string) { t.Logf("%5.1f s  %s", time.Since(start).Seconds(), name) }
	img := filepath.Join("..", "testdata", "sam", "automask_image_big.png")
	absImg, err := filepath.Abs(img)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("tools")))
	waitFor(t, ctx, "the model name", `document.getElementById("model").textContent.includes("ViT")`)

	phase("browser up")
	// Open the image with the file input; the embedding is computed and cached.
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{absImg}))
	waitFor(t, ctx, "the embedding", `window.fovea.imageId !== null && !window.fovea.busy`)
	if w := run(t, ctx, chromedp.Evaluate[int](`window.fovea.width`)); w != 150 {
		t.Fatalf("page shows an image %d wide, want 150", w)
	}

	phase("image embedded")
	// Click a foreground point: the mask canvas shows exactly the server's best mask.
	x, y := toClient(t, ctx, 75, 50)
	do(t, ctx, chromedp.MouseClickXY(x, y))
	waitFor(t, ctx, "the first masks", `window.fovea.shown === 1 && window.fovea.result !== null`)
	m := shownMask(t, ctx)
	if n := run(t, ctx, chromedp.Evaluate[int](`window.fovea.result.masks.length`)); n != 3 {
		t.Errorf("a single point gave %d masks, want the 3 multimask answers", n)
	}
	compareCanvas(t, ctx, ts, m)
	screenshot(t, ctx, art, "serve-point.png")
	t.Logf("click to mask in the browser: %.0f ms", run(t, ctx, chromedp.Evaluate[float64](`window.fovea.lastMs`)))

	phase("clicked")
	// Choose the next multimask answer in the list.
	sel := run(t, ctx, chromedp.Evaluate[int](`window.fovea.selected`))
	next := (sel + 1) % 3
	do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf("#masks li:nth-child(%d)", next+1))))
	waitFor(t, ctx, "the chosen mask", fmt.Sprintf(`window.fovea.selected === %d`, next))
	compareCanvas(t, ctx, ts, shownMask(t, ctx))

	// Shift-click adds a background point.
	x2, y2 := toClient(t, ctx, 20, 85)
	do(t, ctx, chromedp.MouseClickXY(x2, y2, chromedp.ButtonModifiers(chromedp.ModifierShift)))
	waitFor(t, ctx, "the second answer", `window.fovea.shown === 2`)
	if l := run(t, ctx, chromedp.Evaluate[[]int](`window.fovea.points.map(p => p.label)`)); len(l) != 2 || l[0] != 1 || l[1] != 0 {
		t.Errorf("point labels %v, want [1 0]", l)
	}
	compareCanvas(t, ctx, ts, shownMask(t, ctx))

	phase("background point")
	// Drag a box.
	bx0, by0 := toClient(t, ctx, 30, 20)
	bx1, by1 := toClient(t, ctx, 120, 80)
	do(t, ctx,
		chromedp.MouseEvent(chromedp.MousePressed, bx0, by0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, (bx0+bx1)/2, (by0+by1)/2, chromedp.ButtonLeft, buttons(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, bx1, by1, chromedp.ButtonLeft, buttons(1)),
		chromedp.MouseEvent(chromedp.MouseReleased, bx1, by1, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	)
	waitFor(t, ctx, "the box's masks", `window.fovea.box !== null && window.fovea.shown === 3`)
	box := run(t, ctx, chromedp.Evaluate[[]float64](`window.fovea.box`))
	if len(box) != 4 || absf(box[0]-30) > 1.5 || absf(box[1]-20) > 1.5 || absf(box[2]-120) > 1.5 || absf(box[3]-80) > 1.5 {
		t.Errorf("box %v, want about [30 20 120 80]", box)
	}
	boxMask := shownMask(t, ctx)
	compareCanvas(t, ctx, ts, boxMask)
	screenshot(t, ctx, art, "serve-box.png")

	phase("box")
	// Download the mask as PNG and the masks as COCO RLE JSON.
	do(t, ctx, chromedp.Click(chromedp.ID("dl-png")))
	pngPath := waitFile(t, downloads, "mask_"+boxMask.ID+".png")
	b, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pngMask(t, b), serverMask(t, ts, boxMask.ID); string(got) != string(want) {
		t.Errorf("downloaded PNG differs from mask %s", boxMask.ID)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("dl-rle")))
	b, err = os.ReadFile(waitFile(t, downloads, "masks_coco_rle.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		ID           string `json:"id"`
		Segmentation struct {
			Size   [2]int `json:"size"`
			Counts string `json:"counts"`
		} `json:"segmentation"`
		Area int `json:"area"`
	}
	if err := json.Unmarshal(b, &recs); err != nil || len(recs) != 1 || recs[0].ID != boxMask.ID || recs[0].Segmentation.Size != [2]int{100, 150} || recs[0].Area != boxMask.Area {
		t.Errorf("downloaded COCO RLE JSON: %v %.300s", err, b)
	}

	phase("downloads")
	// Segment everything (thresholds low enough for a random-weight model).
	do(t, ctx,
		chromedp.SetValue(chromedp.ID("pps"), "6"),
		chromedp.SetValue(chromedp.ID("iou-thresh"), "0"),
		chromedp.SetValue(chromedp.ID("stab-thresh"), "0"),
		chromedp.Click(chromedp.ID("everything")),
	)
	waitFor(t, ctx, "segment everything", `window.fovea.auto !== null && !window.fovea.busy`)
	if n := run(t, ctx, chromedp.Evaluate[int](`window.fovea.auto.length`)); n == 0 {
		t.Error("segment everything found no masks")
	} else if painted := count(canvasMask(t, ctx)); painted == 0 {
		t.Error("segment everything drew nothing")
	}
	screenshot(t, ctx, art, "serve-everything.png")

	phase("segment everything")
	// Drop a second image on the page.
	small, err := os.ReadFile(filepath.Join("..", "testdata", "sam", "automask_image_small.png"))
	if err != nil {
		t.Fatal(err)
	}
	old := run(t, ctx, chromedp.Evaluate[string](`window.fovea.imageId`))
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const bin = atob("`+base64.StdEncoding.EncodeToString(small)+`");
		const bytes = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], "small.png", {type: "image/png"}));
		document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`))
	waitFor(t, ctx, "the dropped image", fmt.Sprintf(`window.fovea.imageId !== null && window.fovea.imageId !== %q && !window.fovea.busy`, old))
	if w := run(t, ctx, chromedp.Evaluate[int](`window.fovea.width`)); w != 48 {
		t.Errorf("dropped image is %d wide, want 48", w)
	}

	phase("dropped image")
	// The dashboard draws curves, the IoU table and overlays while a short run trains.
	do(t, ctx, chromedp.Navigate(ts.URL+"/dashboard"))
	waitFor(t, ctx, "the dashboard's first snapshot", `window.foveaRun && window.foveaRun.status === "waiting"`)
	cfg := train.DefaultConfig()
	cfg.ImageSize, cfg.TrainN, cfg.ValN = 64, 32, 8
	cfg.Model.Width = 0.125
	cfg.Epochs, cfg.Batch, cfg.WarmupEpochs = 3, 8, 0.5
	cfg.Workers, cfg.Threads = 1, 1
	cfg.Out = t.TempDir()
	cfg.Seed = rand.Uint64N(1000)
	release := make(chan struct{})
	trained := make(chan error, 1)
	go func() {
		_, err := train.Run(context.Background(), cfg, train.Options{OnEvent: func(ev train.Event) {
			dash.Publish(ev)
			if ev.Kind == train.EventEpoch && ev.Epoch == 1 {
				<-release // hold the run after its first epoch until the page has drawn it
			}
		}})
		trained <- err
	}()
	waitFor(t, ctx, "curves while training runs",
		`window.foveaRun.status === "running" && window.foveaRun.history.length === 1 &&
		 +document.getElementById("loss-chart").dataset.points > 0 && +document.getElementById("val-chart").dataset.points > 0 &&
		 document.querySelectorAll("#iou-table tbody tr").length === window.foveaRun.classes.length &&
		 [...document.querySelectorAll("#overlays img")].length === 4 && [...document.querySelectorAll("#overlays img")].every(i => i.complete && i.naturalWidth > 0)`)
	screenshot(t, ctx, art, "serve-dashboard.png")
	phase("dashboard drawn")
	close(release)
	if err := <-trained; err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the finished run", `window.foveaRun.status === "done" && window.foveaRun.history.length === 3`)
	if txt := run(t, ctx, chromedp.Text(chromedp.ID("run-status"))); !strings.Contains(txt, "done") {
		t.Errorf("run status %q", txt)
	}
	t.Logf("screenshots and downloads in %s", art)
}

func buttons(n int64) chromedp.MouseOption {
	return func(p *input.DispatchMouseEventParams) { p.Buttons = n }
}

func absf(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func count(m []uint8) int {
	n := 0
	for _, v := range m {
		n += int(v)
	}
	return n
}

// serverMask fetches mask id as the server keeps it.
func serverMask(t *testing.T, ts *httptest.Server, id string) []uint8 {
	t.Helper()
	st, b := call(t, ts, "GET", "/api/masks/"+id+".png", "", nil, nil)
	if st != 200 {
		t.Fatalf("GET mask %s: %d", id, st)
	}
	return pngMask(t, b)
}

// compareCanvas checks that #mask-canvas shows mask m exactly.
func compareCanvas(t *testing.T, ctx context.Context, ts *httptest.Server, m pageMask) {
	t.Helper()
	want := serverMask(t, ts, m.ID)
	got := canvasMask(t, ctx)
	if len(got) != len(want) {
		t.Fatalf("mask canvas has %d pixels, mask %s %d", len(got), m.ID, len(want))
	}
	diff := 0
	for i := range got {
		if got[i] != want[i] {
			diff++
		}
	}
	if diff != 0 || count(got) != m.Area {
		t.Errorf("mask canvas differs from mask %s in %d pixels (painted %d, area %d)", m.ID, diff, count(got), m.Area)
	}
	if m.Area == 0 {
		t.Logf("mask %s is empty", m.ID)
	}
}
