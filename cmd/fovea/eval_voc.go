package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fovea-ml/fovea/metrics/voc"
	"github.com/spf13/cobra"
)

func init() {
	var annDir, detDir, jsonPath, prPath string
	var year int
	var iou float64
	cmd := &cobra.Command{
		Use:   "voc --annotations DIR --dets DIR --year 2007|2012",
		Short: "Evaluate detections with PASCAL VOC AP (VOC2007 11-point or VOC2010+ area)",
		Long: `Evaluate detections against PASCAL VOC XML annotations with the devkit's rules.
--annotations is a directory of VOC XML files (the image id is the file name
without .xml). --dets holds one <class>.txt per class with lines
"<image_id> <score> <xmin> <ymin> <xmax> <ymax>"; every class that appears in
the annotations needs its file (empty if there are no detections).
Years before 2010 use the 11-point AP, 2010 and later the area under the curve.
--json writes {"mAP":…,"AP":{"<class>":…}}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if annDir == "" || detDir == "" {
				return errors.New("eval voc: --annotations and --dets are required")
			}
			if year < 2007 || year > 2012 {
				return fmt.Errorf("eval voc: --year = %d, want 2007 … 2012", year)
			}
			if !(iou > 0 && iou <= 1) {
				return fmt.Errorf("eval voc: --iou = %v, want a threshold in (0, 1]", iou)
			}
			res, err := evalVOCDirs(annDir, detDir, iou, year)
			if err != nil {
				return err
			}
			printVOC(cmd.OutOrStdout(), res, year, iou)
			if jsonPath != "" {
				out := struct {
					MAP evalFloat            `json:"mAP"`
					AP  map[string]evalFloat `json:"AP"`
				}{evalFloat(res.MAP), map[string]evalFloat{}}
				for _, c := range res.Classes {
					out.AP[c.Class] = evalFloat(c.AP)
				}
				if err := writeEvalJSON(jsonPath, out); err != nil {
					return err
				}
			}
			if prPath != "" {
				return writeVOCPRCurves(prPath, res, year)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&annDir, "annotations", "", "directory of VOC XML annotation files")
	f.StringVar(&detDir, "dets", "", "directory of per-class detection files <class>.txt")
	f.IntVar(&year, "year", 0, "VOC year: 2007 (11-point AP) or 2010…2012 (area AP)")
	f.Float64Var(&iou, "iou", 0.5, "IoU threshold for a true positive (IoU ≥ threshold)")
	f.StringVar(&jsonPath, "json", "", "write {\"mAP\",\"AP\"} as JSON to this file")
	f.StringVar(&prPath, "pr-curve", "", "write a PNG chart of the per-class precision/recall curves to this file")
	evalCmd.AddCommand(cmd)
}

func evalVOCDirs(annDir, detDir string, iou float64, year int) (voc.Result, error) {
	annots, err := voc.ReadAnnotationDir(annDir)
	if err != nil {
		return voc.Result{}, fmt.Errorf("--annotations: %w", err)
	}
	entries, err := os.ReadDir(detDir)
	if err != nil {
		return voc.Result{}, fmt.Errorf("--dets: %w", err)
	}
	known := map[string]bool{}
	for _, a := range annots {
		for _, o := range a.Objects {
			known[o.Name] = true
		}
	}
	images := map[string]bool{}
	sizes := map[string][2]int{}
	for _, a := range annots {
		images[a.ImageID] = true
		sizes[a.ImageID] = [2]int{a.Width, a.Height}
	}
	dets := map[string][]voc.Detection{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".txt" {
			continue
		}
		class := strings.TrimSuffix(e.Name(), ".txt")
		path := filepath.Join(detDir, e.Name())
		if !known[class] {
			return voc.Result{}, fmt.Errorf("%s: class %q appears in no annotation of %s", path, class, annDir)
		}
		d, err := voc.ReadDetections(path)
		if err != nil {
			return voc.Result{}, err
		}
		for k, x := range d {
			if !images[x.ImageID] {
				return voc.Result{}, fmt.Errorf("%s: image %q has no annotation file in %s", path, x.ImageID, annDir)
			}
			wh := sizes[x.ImageID]
			if err := voc.CheckBox(x.Box, wh[0], wh[1]); err != nil {
				return voc.Result{}, fmt.Errorf("%s: detection %d (image %q): %w", path, k+1, x.ImageID, err)
			}
		}
		dets[class] = d
	}
	var missing []string
	for c := range known {
		if _, ok := dets[c]; !ok {
			missing = append(missing, filepath.Join(detDir, c+".txt"))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return voc.Result{}, fmt.Errorf("missing detection file(s) %s (use an empty file for a class with no detections)", strings.Join(missing, ", "))
	}
	return voc.Evaluate(annots, dets, iou, year)
}

func printVOC(w io.Writer, res voc.Result, year int, iou float64) {
	method := "area under the curve"
	if year < 2010 {
		method = "11-point"
	}
	fmt.Fprintf(w, "VOC%d AP (%s), IoU ≥ %g\n", year, method, iou)
	fmt.Fprintf(w, "%-16s %8s %6s %6s %6s\n", "class", "AP", "npos", "TP", "FP")
	for _, c := range res.Classes {
		ap := "nan"
		if !math.IsNaN(c.AP) {
			ap = fmt.Sprintf("%.4f", c.AP)
		}
		fmt.Fprintf(w, "%-16s %8s %6d %6d %6d\n", c.Class, ap, c.NPos, c.TP, c.FP)
	}
	fmt.Fprintf(w, "mAP = %.4f\n", res.MAP)
}
