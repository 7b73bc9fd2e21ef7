// Package metrics holds the evaluation metrics of fovea and the detection
// primitives they share: box IoU in the xyxy, xywh and VOC pixel conventions,
// precision/recall curves, and average precision in the VOC2007 11-point,
// VOC2010+ area and COCO 101-point conventions.
//
// The metrics work on plain Go slices, images and files; they do not need the
// tensor package. Each family lives in its own sub-package:
//
//   - metrics/seg: streaming confusion matrix and segmentation scores
//     (aAcc/PA, mAcc/MPA, IoU/MIoU, FWIoU, Dice, precision, recall, F-score)
//     with mmsegmentation's semantics.
//   - metrics/voc: PASCAL VOC detection evaluation (XML annotations,
//     per-class detection files, VOC2007 and VOC2010+ AP).
//   - metrics/rle: COCO masks — compressed and uncompressed run-length
//     encoding and polygons, bit-identical to pycocotools' maskApi.
//   - metrics/coco: COCO evaluation reproducing pycocotools' COCOeval for
//     bbox and segm.
//   - metrics/prplot: precision/recall curve charts (PNG).
//
// Numbers are meant to equal those of the reference tools to the last digit;
// docs/metrics.md lists every convention and the few places where fovea
// differs on purpose.
package metrics
