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
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for _, f := range files {
				img, err := data.ReadImage(f)
				if err != nil {
					return err
				}
				mask := train.Predict(model, img)
				stem := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
				if err := data.WriteMaskPNG(filepath.Join(out, stem+".png"), mask); err != nil {
					return err
				}
				if err := data.WritePNG(filepath.Join(out, stem+"_overlay.png"), data.Overlay(img, mask, nil, 0.5)); err != nil {
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

// imageFiles returns path itself if it is a file, or the images in the folder path, sorted.
func imageFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
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
