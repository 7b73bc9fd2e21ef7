// Package pipeline holds fovea's Apache Beam pipelines: dataset-scale
// segmentation evaluation (SegEval), COCO evaluation (COCOEval) and batch
// inference (Predict with a GCN checkpoint, AutoMask with SAM's automatic
// mask generator). Each pipeline is built on a beam.Scope and runs on any
// Beam runner: the in-process Prism runner for tests and local runs, or
// Flink, Spark and Dataflow through Beam's standard --runner flags.
//
// Inputs are file patterns read through Beam's filesystem abstraction
// (local paths here; gs:// and s3:// on real runners). Outputs that are one
// file (an evaluation's JSON, the dead-letter list) are written by one
// worker; local files are written with internal/atomicfile, so a failed run
// never leaves a partial file, and object stores commit on close.
//
// Bad input — an unreadable image, a label map whose size differs from its
// ground truth, a malformed JSON line — never fails a pipeline: it goes to a
// dead-letter output (DeadLetter: the file and the reason), the rest is
// still processed, and the counts of both are reported.
package pipeline
