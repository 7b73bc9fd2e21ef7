// Package samtrain trains and fine-tunes Segment Anything (models/sam) with SAM's own
// recipe (Kirillov et al., "Segment Anything", 2023, appendix A), which the official
// releases do not ship:
//
//   - prompts simulated from each ground-truth instance mask: a foreground point drawn
//     uniformly or, with equal probability, the mask's box with noise (standard deviation
//     10 % of the side, at most 20 px), then rounds of corrective clicks drawn uniformly
//     from the previous prediction's error region (false negative → positive click,
//     false positive → negative click), the previous low-resolution logits fed back as
//     the mask prompt (RandomPoint, NoisyBox, CorrectiveClick, ImageLoss);
//   - the loss 20·focal + dice on the masks (SigmoidFocalLoss as torchvision's
//     sigmoid_focal_loss with α 0.25, γ 2; DiceLoss with smoothing 1 as DETR's
//     dice_loss), compared at the input resolution after bilinear upsampling of the
//     low-resolution logits, plus the mean squared error between the IoU head and the
//     true IoU of each output mask; three masks answer a lone point and only the one of
//     lowest loss is trained, one mask answers every later round;
//   - AdamW with warm-up and a step or cosine decay, optional gradient clipping, on the
//     whole model or with LoRA, bottleneck adapters or the decoder alone (Run, Config);
//   - evaluation with the deterministic protocol of interactive segmentation: mIoU with
//     one point (the mask's centre by distance transform), three points (two more
//     clicks at the centres of the largest error region) and the tight box, beside the
//     box-as-mask baseline (Evaluate).
//
// scripts/golden_samtrain.py checks the losses against torchvision and one whole
// training step (three instances, a click round, a mask-only round) against
// segment-anything's modules in PyTorch: the gradients of every parameter agree within
// 1e-4 relative.
package samtrain
