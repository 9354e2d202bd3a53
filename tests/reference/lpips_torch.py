"""A float64 PyTorch twin of LPIPS (SqueezeNet 1.1 backbone, version 0.1) and of the 2.5D perceptual loss,
written from the description in ldae/lpips.h (not from the lpips package), and the closed-form weights that
the committed LPIPS reference cases use (so that the 1.2 M backbone weights need not be committed).

The backbone layers are torchvision's squeezenet1_1().features (weights=None), cut into the 7 slices; the state
dict keys are the published lpips layout: scaling_layer.{shift,scale}, net.slice{k}.{i}.*, lin{k}.model.1.weight.
"""

import math

import torch
import torch.nn as nn
import torchvision

SLICE_BOUNDS = [(0, 2), (2, 5), (5, 8), (8, 10), (10, 11), (11, 12), (12, 13)]
TAP_CHANNELS = [64, 128, 256, 384, 384, 512, 512]
SHIFT = [-0.030, -0.088, -0.188]
SCALE = [0.458, 0.448, 0.450]


class ScalingLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.shift) / self.scale


class SqueezeSlices(nn.Module):
    def __init__(self):
        super().__init__()
        features = torchvision.models.squeezenet1_1(weights=None).features
        for k, (lo, hi) in enumerate(SLICE_BOUNDS):
            s = nn.Sequential()
            for i in range(lo, hi):
                s.add_module(str(i), features[i])
            self.add_module("slice%d" % (k + 1), s)

    def forward(self, x):
        taps = []
        for k in range(7):
            x = getattr(self, "slice%d" % (k + 1))(x)
            taps.append(x)
        return taps


class Lin(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, stride=1, padding=0, bias=False))


class LpipsSqueeze(nn.Module):
    def __init__(self):
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.net = SqueezeSlices()
        for k, c in enumerate(TAP_CHANNELS):
            self.add_module("lin%d" % k, Lin(c))
        self.eval()

    def forward(self, x, y):
        """x, y: (N, 1 or 3, H, W) -> (N,)"""
        fx = self.net(self.scaling_layer(x))
        fy = self.net(self.scaling_layer(y))
        total = 0
        for k in range(7):
            nx = fx[k] / (torch.sqrt(torch.sum(fx[k] ** 2, dim=1, keepdim=True)) + 1e-10)
            ny = fy[k] / (torch.sqrt(torch.sum(fy[k] ** 2, dim=1, keepdim=True)) + 1e-10)
            d = getattr(self, "lin%d" % k).model((nx - ny) ** 2)
            total = total + d.mean([2, 3], keepdim=True)
        return total.reshape(-1)


def perceptual_loss_25d_all_slices(x, y, lpips):
    """The 2.5D loss with ratio 1 (every slice scored; the order does not change the mean)."""
    total = 0
    for axis in (2, 3, 4):
        others = [a for a in (2, 3, 4) if a != axis]
        perm = (0, axis, 1) + tuple(others)
        xs = x.permute(*perm).reshape(-1, x.shape[1], x.shape[others[0]], x.shape[others[1]])
        ys = y.permute(*perm).reshape(-1, y.shape[1], y.shape[others[0]], y.shape[others[1]])
        total = total + lpips(xs, ys).mean()
    return total


def formula_value(key, t, j, shape):
    """Entry j of the tensor `key`, the t-th key in sorted order (scaling_layer keys excluded)."""
    if key.startswith("lin"):
        return (0.5 + 0.5 * math.sin(2.399963 * j + 0.7853 * t + 0.5)) / shape[1]
    fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else None
    if fan_in is None:  # a bias: fan_in of its weight is not known here; use 1/sqrt(64)
        return 0.125 * math.sin(2.399963 * j + 0.7853 * t + 0.5)
    return math.sqrt(3.0 / fan_in) * math.sin(2.399963 * j + 0.7853 * t + 0.5)


def formula_state_dict(model):
    """The closed-form weights (float64) for every parameter of `model`, keys sorted; buffers untouched."""
    sd = model.state_dict()
    keys = sorted(k for k in sd if not k.startswith("scaling_layer."))
    out = {}
    for t, key in enumerate(keys):
        shape = list(sd[key].shape)
        n = sd[key].numel()
        vals = [formula_value(key, t, j, shape) for j in range(n)]
        out[key] = torch.tensor(vals, dtype=torch.float64).reshape(shape)
    return out
