package main

import (
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const samFixtures = "../../testdata/sam/"

// writeTestImage writes a w×h RGB PNG with a gradient.
func writeTestImage(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	if err := writePNGFile(path, img); err != nil {
		t.Fatal(err)
	}
}

func TestSAMPredictAndEmbed(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img.png")
	writeTestImage(t, img, 70, 45)
	ckpt, cfg := samFixtures+"tiny_win.pth", samFixtures+"tiny_win.json"
	out := filepath.Join(dir, "out")
	if _, err := runFovea(t, "sam", "predict", "--checkpoint", ckpt, "--config", cfg, "--image", img,
		"--point", "20,30", "--point", "5,5,0", "--box", "3,4,50,40", "--box", "10,10,60,30", "--multimask", "--out", out); err != nil {
		t.Fatal(err)
	}
	var res samResultJSON
	b, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Prompts) != 2 || len(res.Prompts[0].Masks) != 3 || len(res.Prompts[1].Points) != 2 {
		t.Fatalf("result.json: %s", b)
	}
	for _, f := range []string{"overlay.png", "mask_0_0.png", "mask_1_2.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// The embedding path answers the same.
	emb := filepath.Join(dir, "e.safetensors")
	if _, err := runFovea(t, "sam", "embed", "--checkpoint", ckpt, "--config", cfg, "--image", img, "--out", emb); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "out2")
	if _, err := runFovea(t, "sam", "predict", "--checkpoint", ckpt, "--config", cfg, "--image", img, "--embedding", emb,
		"--point", "20,30", "--point", "5,5,0", "--box", "3,4,50,40", "--box", "10,10,60,30", "--multimask", "--out", out2); err != nil {
		t.Fatal(err)
	}
	b2, err := os.ReadFile(filepath.Join(out2, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Errorf("with --embedding the result differs:\n%s\n%s", b, b2)
	}
}

func TestSAMBadInput(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img.png")
	writeTestImage(t, img, 20, 10)
	notImg := filepath.Join(dir, "x.png")
	os.WriteFile(notImg, []byte("not a png"), 0o644)
	ckpt, cfg := samFixtures+"tiny_win.pth", samFixtures+"tiny_win.json"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sam", "predict", "--checkpoint", ckpt, "--image", img, "--out", dir}, "at least one --point or --box"},
		{[]string{"sam", "predict", "--checkpoint", ckpt, "--image", img, "--point", "1,x", "--out", dir}, `"x" is not a number`},
		{[]string{"sam", "predict", "--checkpoint", ckpt, "--image", img, "--point", "1,2,5", "--out", dir}, "label 5"},
		{[]string{"sam", "predict", "--checkpoint", ckpt, "--image", img, "--box", "5,5,1,1", "--out", dir}, "x0 ≤ x1"},
		{[]string{"sam", "predict", "--checkpoint", ckpt, "--image", notImg, "--point", "1,2", "--out", dir}, "x.png"},
		{[]string{"sam", "predict", "--checkpoint", img, "--image", img, "--point", "1,2", "--out", dir}, "img.png"},
		{[]string{"sam", "predict", "--checkpoint", ckpt, "--config", cfg, "--image", img, "--embedding", img, "--point", "1,2", "--out", dir}, "img.png"},
		{[]string{"sam", "embed", "--checkpoint", ckpt, "--image", img}, "--out"},
	}
	for _, c := range cases {
		_, err := runFovea(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
