#!/usr/bin/python3
"""Generate the PyTorch reference cases of the image metrics (ldae/metrics.h): 3D SSIM, MS-SSIM, PSNR, MSE.

    /usr/bin/python3 tests/reference/generate_metric_cases.py --out tests/reference/metrics

The metrics are written here from their definition (ldae-reference 7.6, monai-generative's SSIMMetric /
MultiScaleSSIMMetric / PSNRMetric as described there): a 3D Gaussian window built as the outer product of the
normalised 1D window exp(-(i - (k-1)/2)^2 / (2 sigma^2)), valid F.conv3d, biased moments, c1 = (0.01 L)^2,
c2 = (0.03 L)^2, mean of the map per sample; MS-SSIM with relu'd per-sample cs means at the first S-1 scales,
the ssim mean at the last, F.avg_pool3d(kernel 2) in between, product of the powers.

One safetensors file per case (format of reference-cases.md): `in0`, `in1` the two volumes (absent for the
"formula" cases, whose volumes both sides compute from the closed form `formula_volumes` below, so that large
5-scale volumes need not be committed), `out` the per-sample values (F64). Metadata: `op` (metric:ssim3d,
metric:ms_ssim3d, metric:psnr, metric:mse), `kernel_size`, `kernel_sigma`, `data_range`, `k1`, `k2`,
`weights`, and for formula cases `formula` = "sines" and `shape`.
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_cases import write_safetensors, read_safetensors  # noqa: E402

D64 = torch.float64
MS_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


def gaussian_1d(k, sigma):
    i = torch.arange(k, dtype=D64)
    g = torch.exp(-(((i - (k - 1) / 2.0) / sigma) ** 2) / 2.0)
    return g / g.sum()


def ssim_and_cs(x, y, k, sigma, data_range, k1, k2):
    """x, y: (N, C, D, H, W) float64 -> ssim map, cs map (valid convolution)."""
    c = x.shape[1]
    g = gaussian_1d(k, sigma)
    w = (g[:, None, None] * g[None, :, None] * g[None, None, :]).expand(c, 1, k, k, k).contiguous()
    conv = lambda t: F.conv3d(t, w, groups=c)  # noqa: E731
    mu_x, mu_y = conv(x), conv(y)
    s_xx = conv(x * x) - mu_x * mu_x
    s_yy = conv(y * y) - mu_y * mu_y
    s_xy = conv(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    cs = (2 * s_xy + c2) / (s_xx + s_yy + c2)
    ssim = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1) * cs
    return ssim, cs


def ssim3d(x, y, k=3, sigma=1.5, data_range=1.0, k1=0.01, k2=0.03):
    s, _ = ssim_and_cs(x, y, k, sigma, data_range, k1, k2)
    return s.reshape(s.shape[0], -1).mean(1)


def ms_ssim3d(x, y, weights, k=3, sigma=1.5, data_range=1.0, k1=0.01, k2=0.03):
    ms = []
    for i in range(len(weights)):
        s, cs = ssim_and_cs(x, y, k, sigma, data_range, k1, k2)
        ms.append(torch.relu(cs.reshape(cs.shape[0], -1).mean(1)))
        if i + 1 < len(weights):
            x, y = F.avg_pool3d(x, 2), F.avg_pool3d(y, 2)
    ms[-1] = torch.relu(s.reshape(s.shape[0], -1).mean(1))
    ms = torch.stack(ms)
    return torch.prod(ms ** torch.tensor(weights, dtype=D64).view(-1, 1), dim=0)


def mse(x, y):
    return ((x - y) ** 2).reshape(x.shape[0], -1).mean(1)


def psnr(x, y, data_range=1.0):
    return 20 * math.log10(data_range) - 10 * torch.log10(mse(x, y))


def formula_volumes(n, d, h, w):
    """Both volumes of a "sines" case: (n, 1, d, h, w) float64, sample s shifted by 0.1 s.
    a = 0.5 + 0.3 sin(0.37 z + 0.11 y + 0.1 s) cos(0.23 x + 0.05 z) + 0.1 sin(0.9 x + 1.7 y)
    b = a + 0.08 sin(1.3 z + 0.7 x + 0.4 y) + 0.05 cos(0.21 y + 0.3 s)"""
    s = torch.arange(n, dtype=D64).view(n, 1, 1, 1, 1)
    z = torch.arange(d, dtype=D64).view(1, 1, d, 1, 1)
    y = torch.arange(h, dtype=D64).view(1, 1, 1, h, 1)
    x = torch.arange(w, dtype=D64).view(1, 1, 1, 1, w)
    a = 0.5 + 0.3 * torch.sin(0.37 * z + 0.11 * y + 0.1 * s) * torch.cos(0.23 * x + 0.05 * z) \
        + 0.1 * torch.sin(0.9 * x + 1.7 * y)
    b = a + 0.08 * torch.sin(1.3 * z + 0.7 * x + 0.4 * y) + 0.05 * torch.cos(0.21 * y + 0.3 * s)
    return a.expand(n, 1, d, h, w).contiguous(), b.contiguous()


def meta_for(op, k=3, sigma=1.5, data_range=1.0, weights=None, **extra):
    m = {"op": op, "kernel_size": json.dumps(k), "kernel_sigma": json.dumps(sigma),
         "data_range": json.dumps(data_range), "k1": json.dumps(0.01), "k2": json.dumps(0.03)}
    if weights is not None:
        m["weights"] = json.dumps(weights)
    m.update({key: json.dumps(v) if not isinstance(v, str) else v for key, v in extra.items()})
    return m


def cases():
    torch.manual_seed(1234)
    a = torch.rand(2, 1, 7, 8, 6, dtype=D64)
    b = (a + 0.1 * torch.randn(2, 1, 7, 8, 6, dtype=D64)).clamp(-0.2, 1.2)
    yield "ssim_k3_random", [("in0", a), ("in1", b), ("out", ssim3d(a, b, 3))], meta_for("metric:ssim3d", 3)
    yield "ssim_k4_random", [("in0", a), ("in1", b), ("out", ssim3d(a, b, 4))], meta_for("metric:ssim3d", 4)
    # two channels, another sigma and data range
    c = torch.rand(1, 2, 6, 5, 7, dtype=D64) * 2.0
    e = c * 0.9 + 0.05 * torch.randn(1, 2, 6, 5, 7, dtype=D64)
    yield "ssim_k5_sigma1_range2_2ch", [("in0", c), ("in1", e), ("out", ssim3d(c, e, 5, 1.0, 2.0))], \
        meta_for("metric:ssim3d", 5, 1.0, 2.0)
    # 3-scale MS-SSIM on small random volumes (odd sizes exercise the floor of the pooling)
    p = torch.rand(1, 1, 13, 12, 12, dtype=D64)
    q = (p + 0.15 * torch.randn(1, 1, 13, 12, 12, dtype=D64))
    w3 = [0.2, 0.5, 0.3]
    yield "ms_ssim_3scales_k3_random", [("in0", p), ("in1", q), ("out", ms_ssim3d(p, q, w3, 3))], \
        meta_for("metric:ms_ssim3d", 3, weights=w3)
    yield "mse_random", [("in0", a), ("in1", b), ("out", mse(a, b))], meta_for("metric:mse")
    yield "psnr_random", [("in0", a), ("in1", b), ("out", psnr(a, b))], meta_for("metric:psnr")
    yield "psnr_range255", [("in0", a * 255), ("in1", b * 255), ("out", psnr(a * 255, b * 255, 255.0))], \
        meta_for("metric:psnr", data_range=255.0)
    # the published 5-scale setting on volumes that are too big to commit: closed-form inputs
    for (shape, k) in [((2, 48, 50, 49), 3), ((1, 64, 66, 64), 4)]:
        n, d, h, w = shape
        fa, fb = formula_volumes(n, d, h, w)
        name = "ms_ssim_5scales_k%d_sines" % k
        yield name, [("out", ms_ssim3d(fa, fb, MS_WEIGHTS, k))], \
            meta_for("metric:ms_ssim3d", k, weights=MS_WEIGHTS, formula="sines", shape=[n, 1, d, h, w])
        yield "ssim_k%d_sines" % k, [("out", ssim3d(fa, fb, k))], \
            meta_for("metric:ssim3d", k, formula="sines", shape=[n, 1, d, h, w])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the *.safetensors cases")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for name, tensors, meta in cases():
        meta["name"] = name
        path = os.path.join(args.out, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        back, _ = read_safetensors(path)
        for tname, t in tensors:
            assert torch.equal(back[tname], t), (name, tname)
        print("wrote", path, " ".join("%.12f" % v for v in tensors[-1][1].tolist()))


if __name__ == "__main__":
    main()
