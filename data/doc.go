// Package data reads, writes and generates the images, label maps and boxes
// that fovea's models train on, and feeds them to a training loop in batches.
//
// Images are kept as plain float32 planes (Image: (C, H, W), values in [0, 1]
// when decoded from a file), label maps as class indices (Mask: (H, W), uint8,
// with Ignore = 255 meaning "no label"), and boxes as pixel rectangles with a
// class (Box). A Sample bundles the three; a Dataset is anything with a length
// and a Get by index; a Loader turns a Dataset into batches of tensors
// (images (N, C, H, W), masks (N, H, W)) using worker goroutines, with
// shuffling and per-sample randomness derived from (seed, epoch, index) so the
// batches are the same whatever the number of workers.
//
// Formats: PNG and JPEG images (8-bit RGB, grey and palette, 16-bit grey),
// palette label maps as used by Pascal VOC's SegmentationClass (indices are
// read raw, never through the palette's colours), the Pascal VOC folder layout
// (segmentation and detection) and COCO instances JSON (boxes, polygons and
// RLE masks).
//
// The built-in synthetic dataset "shapes" (see Shapes) is a semantic
// segmentation task of six shape classes over textured, noisy backgrounds,
// generated deterministically from a seed; ExportVOC writes it, or any
// Dataset, as a VOC-layout folder plus a COCO instances JSON.
//
// Anything read from outside (files, JSON, XML) that is missing or malformed
// returns an error naming the file; a programming error (a nil image, a shape
// that does not match) panics with a message naming the function and shapes.
package data
