#!/usr/bin/python3
"""Generate the PyTorch reference cases of LPIPS (SqueezeNet) and of the 2.5D perceptual loss (ldae/lpips.h).

    /usr/bin/python3 tests/reference/generate_lpips_cases.py --out tests/reference/lpips

The network is the float64 twin of lpips_torch.py with the closed-form weights of formula_state_dict (both
sides compute them, so no weights are committed). One safetensors file per case (reference-cases.md format):

  op "lpips":  in0, in1 (N, C, H, W) images; out (N) distances; gin0, gin1 the gradients of sum(out).
  op "perceptual_loss_25d": no inputs stored: both volumes are formula_volumes (generate_metric_cases.py) of
      metadata `shape`; `ratio` 1 (every slice); out the 0-d loss; gin0 its gradient with respect to in0.

Every case carries metadata `weights` = "formula" and `state_dict` = JSON {key: shape} of the twin, so that the
C++ test also checks its module's keys and shapes against PyTorch's.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_cases import write_safetensors, read_safetensors  # noqa: E402
from generate_metric_cases import formula_volumes  # noqa: E402
from lpips_torch import LpipsSqueeze, formula_state_dict, perceptual_loss_25d_all_slices  # noqa: E402

D64 = torch.float64


def build():
    torch.manual_seed(0)
    model = LpipsSqueeze().double()
    model.load_state_dict(formula_state_dict(model), strict=False)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def cases(model):
    sd_meta = json.dumps({k: list(v.shape) for k, v in model.state_dict().items()}, sort_keys=True)
    base = {"weights": "formula", "state_dict": sd_meta}
    torch.manual_seed(42)
    for name, shape, lo, hi in [("lpips_gray_2x24x20", (2, 1, 24, 20), 0.0, 1.0),
                                ("lpips_rgb_1x18x19", (1, 3, 18, 19), -1.0, 1.0)]:
        x = (lo + (hi - lo) * torch.rand(shape, dtype=D64)).requires_grad_()
        y = (x.detach() + 0.2 * torch.randn(shape, dtype=D64)).requires_grad_()
        out = model(x, y)
        gx, gy = torch.autograd.grad(out.sum(), [x, y])
        yield name, [("in0", x.detach()), ("in1", y.detach()), ("out", out.detach()), ("gin0", gx), ("gin1", gy)], \
            dict(base, op="lpips")
    shape = [1, 1, 17, 18, 19]
    a, b = formula_volumes(1, 17, 18, 19)
    a.requires_grad_()
    loss = perceptual_loss_25d_all_slices(a, b, model)
    (g,) = torch.autograd.grad(loss, [a])
    yield "perceptual_25d_ratio1_sines", [("out", loss.detach().reshape(())), ("gin0", g)], \
        dict(base, op="perceptual_loss_25d", ratio=json.dumps(1.0), shape=json.dumps(shape))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the *.safetensors cases")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    model = build()
    for name, tensors, meta in cases(model):
        meta["name"] = name
        path = os.path.join(args.out, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        back, _ = read_safetensors(path)
        for tname, t in tensors:
            assert torch.equal(back[tname], t), (name, tname)
        print("wrote", path, tensors[-3 if meta["op"] == "lpips" else 0][1].reshape(-1).tolist())


if __name__ == "__main__":
    main()
