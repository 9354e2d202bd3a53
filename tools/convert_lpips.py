#!/usr/bin/python3
"""Convert the weights of the published perceptual loss (LPIPS with a SqueezeNet 1.1 backbone, version 0.1) into one
safetensors file that our LPIPS module (ldae/lpips.h) loads with strict key checks.

usage: convert_lpips.py SQUEEZENET LIN OUTPUT [--dtype float32|float64]

SQUEEZENET  torchvision's ImageNet SqueezeNet 1.1 weights (squeezenet1_1-b8a52dc0.pth, a state dict with keys
            features.{0,3,4,6,7,9,10,11,12}.* and classifier.1.*; the classifier is dropped)
LIN         the lpips package's linear layers for net='squeeze', version 0.1 (lpips/weights/v0.1/squeeze.pth:
            lin0.model.1.weight ... lin6.model.1.weight; "lins.<k>.model.1.weight" copies are accepted too and
            must agree). A full LPIPS state dict (net.slice*, lin*) is also accepted here; its backbone is
            ignored (the SQUEEZENET file gives the backbone).
OUTPUT      the safetensors file: scaling_layer.shift / scale (the LPIPS constants), net.slice{k}.{i}.* (the
            backbone features.{i}.*, sliced as LPIPS does: 1: 0; 2: 3, 4; 3: 6, 7; 4: 9; 5: 10; 6: 11; 7: 12)
            and lin{k}.model.1.weight, as F32 (default) or F64; __metadata__ names the two source files.

Files are read with torch.load(weights_only=True). A file of the wrong layout, a missing or mis-shaped key, or a
negative lin weight is refused with a message naming the file and the keys. Needs torch (Debian: python3-torch).
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import ConversionError, as_state_dict, load, prefixes, write_safetensors  # noqa: E402

# features index -> LPIPS slice number
SLICE_OF = {0: 1, 3: 2, 4: 2, 6: 3, 7: 3, 9: 4, 10: 5, 11: 6, 12: 7}
# features index -> (in, squeeze, expand1x1, expand3x3) of each Fire block of squeezenet1_1
FIRE = {3: (64, 16, 64, 64), 4: (128, 16, 64, 64), 6: (128, 32, 128, 128), 7: (256, 32, 128, 128),
        9: (256, 48, 192, 192), 10: (384, 48, 192, 192), 11: (384, 64, 256, 256), 12: (512, 64, 256, 256)}
TAP_CHANNELS = [64, 128, 256, 384, 384, 512, 512]
SHIFT = [-0.030, -0.088, -0.188]
SCALE = [0.458, 0.448, 0.450]


def backbone_shapes():
    """features.* key -> shape, for squeezenet1_1 (classifier excluded)."""
    shapes = {"features.0.weight": (64, 3, 3, 3), "features.0.bias": (64,)}
    for i, (cin, s, e1, e3) in FIRE.items():
        p = "features.%d." % i
        shapes.update({p + "squeeze.weight": (s, cin, 1, 1), p + "squeeze.bias": (s,),
                       p + "expand1x1.weight": (e1, s, 1, 1), p + "expand1x1.bias": (e1,),
                       p + "expand3x3.weight": (e3, s, 3, 3), p + "expand3x3.bias": (e3,)})
    return shapes


def check_shapes(sd, expected, path, what):
    missing = [k for k in expected if k not in sd]
    wrong = ["%s %s (expected %s)" % (k, list(sd[k].shape), list(s)) for k, s in expected.items()
             if k in sd and tuple(sd[k].shape) != tuple(s)]
    if missing or wrong:
        msg = "%s: not %s" % (path, what)
        if missing:
            msg += "; missing %s" % ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        if wrong:
            msg += "; wrong shapes %s" % ", ".join(wrong[:8])
        raise ConversionError(msg + "; the file holds " + prefixes(sd, 2))


def convert_backbone(sd, path):
    shapes = backbone_shapes()
    check_shapes(sd, shapes, path, "torchvision SqueezeNet 1.1 weights (squeezenet1_1)")
    unexpected = [k for k in sd if k not in shapes and not k.startswith("classifier.")]
    if unexpected:
        raise ConversionError("%s: unexpected keys for squeezenet1_1: %s" % (path, ", ".join(unexpected[:8])))
    out = {}
    for k in shapes:
        i = int(k.split(".")[1])
        out["net.slice%d.%s" % (SLICE_OF[i], k[len("features."):])] = sd[k]
    return out


def convert_lins(sd, path):
    expected = {"lin%d.model.1.weight" % k: (1, c, 1, 1) for k, c in enumerate(TAP_CHANNELS)}
    check_shapes(sd, expected, path, "the LPIPS SqueezeNet linear layers (lpips weights/v0.1/squeeze.pth)")
    for k in range(7):
        copy = sd.get("lins.%d.model.1.weight" % k)
        if copy is not None and (copy.shape != sd["lin%d.model.1.weight" % k].shape
                                 or not torch.equal(copy, sd["lin%d.model.1.weight" % k])):
            raise ConversionError("%s: lins.%d.model.1.weight differs from lin%d.model.1.weight" % (path, k, k))
    allowed = ("lin", "lins.", "net.", "scaling_layer.")
    unexpected = [k for k in sd if k not in expected and not k.startswith(allowed)]
    if unexpected:
        raise ConversionError("%s: unexpected keys for the LPIPS linear layers: %s" % (path, ", ".join(unexpected[:8])))
    out = {}
    for k in expected:
        w = sd[k]
        if (w < 0).any():
            raise ConversionError("%s: %s has negative entries (LPIPS lin weights are non-negative)" % (path, k))
        out[k] = w
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__[__doc__.index("SQUEEZENET  "):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("squeezenet", help="torchvision squeezenet1_1 weights (.pth state dict)")
    ap.add_argument("lin", help="the lpips package's squeeze.pth (version 0.1)")
    ap.add_argument("output", help="the safetensors file to write")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="output dtype (default F32)")
    args = ap.parse_args(argv)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    try:
        tensors = convert_backbone(as_state_dict(load(args.squeezenet, False), args.squeezenet), args.squeezenet)
        tensors.update(convert_lins(as_state_dict(load(args.lin, False), args.lin), args.lin))
        tensors["scaling_layer.shift"] = torch.tensor(SHIFT).view(1, 3, 1, 1)
        tensors["scaling_layer.scale"] = torch.tensor(SCALE).view(1, 3, 1, 1)
        for k, v in tensors.items():
            if not v.is_floating_point():
                raise ConversionError("%s: not a floating-point tensor (%s)" % (k, v.dtype))
        tensors = {k: v.to(dtype) for k, v in tensors.items()}
        meta = {"kind": "lpips_squeeze_v0.1", "squeezenet": os.path.basename(args.squeezenet),
                "lin": os.path.basename(args.lin)}
        write_safetensors(args.output, tensors, meta)
    except ConversionError as e:
        print("convert_lpips: %s" % e, file=sys.stderr)
        return 1
    print("convert_lpips: %d tensors (%d values) -> %s" % (
        len(tensors), sum(t.numel() for t in tensors.values()), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
