// Package augment holds the data augmentation transforms of fovea, applied
// jointly to a data.Sample's image (C, H, W), label map (H, W) and boxes:
// resizing, random scaling, padding and random cropping, horizontal flips,
// colour jitter, normalisation, and Random Erasing (torchvision's and the
// variants of Zhong et al. 2017, including the detection variants IRE, ORE
// and I+ORE).
//
// Every transform implements data.Transform: Apply(rng, sample) draws all of
// its randomness from rng, so a data.Loader, which derives rng from (seed,
// epoch, index), gives the same augmented samples whatever its number of
// workers. Compose chains transforms, giving each its own random stream.
//
// Where torchvision has the operation, fovea matches it: Resize is
// torch.nn.functional.interpolate (bilinear, align_corners=False,
// antialias=False, i.e. torchvision's F.resize on tensors) for images and
// "nearest" (source index floor(dst·in/out)) for masks; colour adjustments are
// torchvision's tensor functions; RandomErasing.Region is
// torchvision 0.14's RandomErasing.get_params. Random streams are Go's (PCG),
// so the same seed does not give torchvision's numbers, only its
// distributions.
package augment
