#!/usr/bin/env python3
"""Whole-network references for the unit tests (tests/unit/test_convnext.cpp,
test_semantic_encoder.cpp): small configurations of

  convnext_small_config_f64.safetensors
      torchvision 0.14's ConvNeXt (torchvision.models.convnext.ConvNeXt), 3 stages, with a
      1-channel stem and the final Linear replaced by the identity, as the LDAE encoder modifies it;
  attention_semantic_encoder_small_f64.safetensors
      a PyTorch composition of ldae-reference 5.1 (that ConvNeXt on every slice, positional
      encoding, soft attention pooling, projections, nn.MultiheadAttention, LayerNorm), written
      from the specification (not the published code), to check our composition against
      PyTorch's own layers.

Every parameter (layer scales and LayerNorm affines included) is drawn at random so that every
term matters; the networks run in eval mode in float64. File layout: `param.<key>` for every
state-dict entry (buffers included), `in0` the input, `out` the output; metadata = the constructor
arguments (JSON) as in reference-cases.md's module:convnext / module:attention_semantic_encoder.

    /usr/bin/python3 tests/reference/networks/generate_networks.py --out tests/reference/networks
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from generate_cases import read_safetensors, write_safetensors  # noqa: E402

from torchvision.models.convnext import CNBlockConfig, ConvNeXt  # noqa: E402


def convnext(dims, depths, layer_scale, sd_prob, in_channels):
    settings = [CNBlockConfig(dims[i], dims[i + 1] if i + 1 < len(dims) else None, depths[i])
                for i in range(len(dims))]
    net = ConvNeXt(settings, stochastic_depth_prob=sd_prob, layer_scale=layer_scale)
    old = net.features[0][0]
    net.features[0][0] = nn.Conv2d(in_channels, old.out_channels, kernel_size=4, stride=4, bias=True)
    net.classifier[2] = nn.Identity()  # the encoder's "published" head: no final Linear
    return net


def randomise(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, dtype=torch.float64) * 0.5 + 0.25)
            elif p.dim() == 1 and ("norm" in name or ".block.2." in name or name.startswith(("features.0.1", "classifier"))
                                   or ".0.weight" in name or ".0.bias" in name):
                p.copy_(torch.randn(p.shape, dtype=torch.float64) * 0.3 + (1.0 if name.endswith("weight") else 0.0))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, dtype=torch.float64) / math.sqrt(fan_in))


class PositionalEncoding(nn.Module):
    def __init__(self, emb, seq_len):
        super().__init__()
        pe = torch.zeros(seq_len, emb, dtype=torch.float64)
        pos = torch.arange(seq_len, dtype=torch.float64).unsqueeze(1)
        div = torch.exp(torch.arange(0, emb, 2, dtype=torch.float64) * (-math.log(10000.0) / emb))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe.unsqueeze(0))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.dropout(x + self.pe[:, :x.size(1)])


class SoftAttention(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.linear = nn.Linear(emb, 1)

    def forward(self, f):
        a = torch.softmax(self.linear(f), dim=1)
        return (a * f).sum(dim=1)


class Wrapper(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.backbone = net


class Encoder(nn.Module):
    """ldae-reference 5.1 (registers the backbone once)."""

    def __init__(self, emb, heads, attn_dropout, seq_len, dims, depths, layer_scale, sd):
        super().__init__()
        self.backbone = Wrapper(convnext(dims, depths, layer_scale, sd, 1))
        self.positional_encoding = PositionalEncoding(emb, seq_len)
        self.query_projection = nn.Linear(emb, emb)
        self.key_projection = nn.Linear(emb, emb)
        self.value_projection = nn.Linear(emb, emb)
        self.soft_attention = SoftAttention(emb)
        self.cross_attention = nn.MultiheadAttention(emb, heads, dropout=attn_dropout, batch_first=True)
        self.layer_norm_after_attention = nn.LayerNorm(emb)

    def forward(self, x):
        b, c, s, h, w = x.shape
        f = self.backbone.backbone(x.reshape(b * s, c, h, w)).reshape(b, s, -1)
        f = self.positional_encoding(f)
        g = self.soft_attention(f)
        q = self.query_projection(g).unsqueeze(1)
        y, _ = self.cross_attention(q, self.key_projection(f), self.value_projection(f))
        return self.layer_norm_after_attention(y).squeeze(1)


def save(path, net, x, meta):
    net.eval()
    with torch.no_grad():
        out = net(x)
    tensors = [("in0", x), ("out", out)] + [("param." + k, v) for k, v in net.state_dict().items()]
    write_safetensors(path, tensors, {k: json.dumps(v) for k, v in meta.items()})
    back, _ = read_safetensors(path)
    assert torch.equal(back["out"], out)
    print(path, os.path.getsize(path), "bytes, out", tuple(out.shape))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)

    # ConvNeXt: 32x40 -> stem 8x10 -> 4x5 -> 2x2.
    torch.manual_seed(20221)
    meta = {"dims": [8, 16, 24], "depths": [1, 2, 1], "layer_scale": 1e-6, "stochastic_depth_prob": 0.1,
            "in_channels": 1}
    net = convnext(meta["dims"], meta["depths"], meta["layer_scale"], meta["stochastic_depth_prob"], 1).double()
    randomise(net)
    x = torch.rand(2, 1, 32, 40, dtype=torch.float64)
    save(os.path.join(args.out, "convnext_small_config_f64.safetensors"), net, x, dict(meta, op="module:convnext"))

    # AttentionSemanticEncoder: 2 volumes of 5 slices of 16x20 (stem 4x5 -> 2x2 -> 1x1), seq_len 6.
    torch.manual_seed(20222)
    meta = {"emb_chans": 16, "num_heads": 4, "attn_dropout": 0.1, "seq_len": 6, "backbone_dims": [8, 12, 16],
            "backbone_depths": [1, 1, 1], "layer_scale": 1e-6, "stochastic_depth_prob": 0.4, "grayscale": True}
    enc = Encoder(meta["emb_chans"], meta["num_heads"], meta["attn_dropout"], meta["seq_len"], meta["backbone_dims"],
                  meta["backbone_depths"], meta["layer_scale"], meta["stochastic_depth_prob"]).double()
    randomise(enc.backbone.backbone)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if not name.startswith("backbone."):
                p.copy_(torch.randn(p.shape) * (0.3 if p.dim() == 1 else 1.0 / math.sqrt(p.shape[-1]))
                        + (1.0 if name == "layer_norm_after_attention.weight" else 0.0))
    x = torch.rand(2, 1, 5, 16, 20, dtype=torch.float64)
    save(os.path.join(args.out, "attention_semantic_encoder_small_f64.safetensors"), enc, x,
         dict(meta, op="module:attention_semantic_encoder"))


if __name__ == "__main__":
    main()
