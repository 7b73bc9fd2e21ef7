// Package train runs fovea's segmentation training: the loop, progress,
// validation, checkpoints that resume exactly, logs and charts.
package train
