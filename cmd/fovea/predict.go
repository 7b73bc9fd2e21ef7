package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/train"
)

func init() {
	var checkpoint, input, out string
	cmd := &cobra.Command{
		Use:   "predict --checkpoint FILE --input IMAGE|DIR --out DIR",
		Short: "Segment images with a trained model: writes label maps and colour overlays",
		Long: `Segment one image or every PNG/JPEG in a folder with a model written by fovea train
(best.safetensors, last.safetensors or checkpoint.safetensors). For each image NAME it
writes DIR/NAME.png, a palette label map (the pixel value is the class index, as VOC's
SegmentationClass), and DIR/NAME_overlay.png, the prediction tinted over the image.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if checkpoint == "" || input == "" || out == "" {
				return fmt.Errorf("predict needs --checkpoint, --input and --out")
			}
			model, err := train.LoadModel(checkpoint)
			if err != nil {
				return err
			}
			files, err := imageFiles(input)
			if err != nil {
				return err
			}
			if st, err := os.Stat(out); err == nil && !st.IsDir() {
				return fmt.Errorf("--out %s is a file, want a folder for the label maps and overlays", out)
			}
			outputs, err := predictOutputs(files, out)
			if err != nil {
				return err
			}
			// Headers first: an unreadable or oversized image is reported
			// before any output is written.
			for _, f := range files {
				if _, _, err := data.ReadImageSize(f); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("--out %s: %w", out, err)
			}
			for i, f := range files {
				img, err := data.ReadImage(f)
				if err != nil {
					return err
				}
				mask := train.Predict(model, img)
				if err := data.WriteMaskPNG(outputs[i][0], mask); err != nil {
					return err
				}
				if err := data.WritePNG(outputs[i][1], data.Overlay(img, mask, nil, 0.5)); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d label maps and overlays to %s\n", len(files), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&checkpoint, "checkpoint", "", "model file written by fovea train")
	cmd.Flags().StringVar(&input, "input", "", "an image file or a folder of .png/.jpg/.jpeg images")
	cmd.Flags().StringVar(&out, "out", "", "output folder")
	rootCmd.AddCommand(cmd)
}

// predictOutputs returns the label map and overlay paths of each input in
// folder out. It refuses, before anything is written, two inputs whose
// outputs would have the same name (a.png and a.jpg both give a.png) and an
// output that would overwrite one of the inputs (--out is the input folder).
func predictOutputs(files []string, out string) ([][2]string, error) {
	inputs := map[string]string{} // absolute path → input
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		inputs[abs] = f
	}
	from := map[string]string{} // output name → the input that writes it
	res := make([][2]string, len(files))
	for i, f := range files {
		stem := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		res[i] = [2]string{filepath.Join(out, stem+".png"), filepath.Join(out, stem+"_overlay.png")}
		for _, o := range res[i] {
			if prev, dup := from[o]; dup {
				return nil, fmt.Errorf("--input: %s and %s would both write %s: rename one (outputs are named after the input without its extension)", prev, f, o)
			}
			from[o] = f
			abs, err := filepath.Abs(o)
			if err != nil {
				return nil, err
			}
			if in, ok := inputs[abs]; ok {
				return nil, fmt.Errorf("--out %s: the output %s of %s would overwrite the input image %s: give another --out folder", out, o, f, in)
			}
		}
	}
	return res, nil
}

// imageFiles returns path itself if it is a file, or the images in the folder path, sorted.
func imageFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .png or .jpg images", path)
	}
	sort.Strings(files)
	return files, nil
}
