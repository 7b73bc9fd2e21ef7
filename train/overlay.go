package train

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models/gcn"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Predict returns the label map the model predicts for one image
// (3, H, W) in [0, 1]; H and W are padded up to multiples of 32 internally.
// The model must be in eval mode (LoadModel returns it so). It is safe for
// concurrent use when no parameter requires a gradient (as after LoadModel).
func Predict(m *gcn.Model, img *data.Image) *data.Mask {
	restore := noGrad(m)
	defer restore()
	s := normalize.Apply(nil, data.Sample{Image: img.ToRGB().Clone()})
	h, w := img.H, img.W
	ph, pw := (h+31)/32*32, (w+31)/32*32
	x := s.Image.Tensor()
	if ph != h || pw != w {
		x = tensor.Pad(x, []int{0, pw - w, 0, ph - h}, tensor.PadReplicate, 0)
	}
	pred := tensor.ArgMax(m.Forward(tensor.Unsqueeze(x, 0)), 1, false)
	mask := data.NewMask(h, w)
	pd := pred.Data()
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			mask.Pix[y*w+xx] = uint8(pd[y*pw+xx])
		}
	}
	return mask
}

// writeOverlays writes, for the first n samples of ds, the image with the
// predicted mask tinted over it beside the image with the true mask. The
// prediction is made in evaluation mode (BatchNorm on running statistics), as
// `fovea predict` makes it; the model's mode is restored afterwards.
func writeOverlays(dir string, m *gcn.Model, ds data.Dataset, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	nn.SetTraining(m, false)
	defer nn.SetTraining(m, true)
	for i := 0; i < min(n, ds.Len()); i++ {
		s, err := ds.Get(i)
		if err != nil {
			return err
		}
		pred := Predict(m, s.Image)
		panel := []*data.Image{data.Overlay(s.Image, pred, nil, 0.5)}
		if s.Mask != nil {
			panel = append(panel, data.Overlay(s.Image, s.Mask, nil, 0.5))
		}
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("%04d", i)
		}
		if err := data.WritePNG(filepath.Join(dir, name+".png"), data.Grid(panel, len(panel), 4, 1)); err != nil {
			return err
		}
	}
	return nil
}
