#!/usr/bin/python3
"""Generate the PyTorch reference cases for nn modules (`op` = `module:<name>`).

Format: reference-cases.md (project docs), module form:
  - `in0, in1, ...`   the forward's inputs in call order;
  - `param.<name>`    every parameter, named by its dotted state-dict key (the same keys as our nn:: module);
  - `out`, `gout`     the output and the upstream gradient;
  - `gin<k>`          d sum(out * gout) / d in<k> (absent for non-differentiable inputs, e.g. timesteps);
  - `gparam.<name>`   d sum(out * gout) / d param.<name>;
  - `__metadata__`    `op`, the constructor arguments (JSON-encoded, named as the C++ runner expects), `name`, `seed`.

The PyTorch modules below mirror the descriptions of ldae-reference.md (4.1, 5.1, 5.2): the guided-diffusion /
PDAE layout and parameter names (in_layers.0, emb_layers.1, emb_z_layers.1, out_layers.3, skip_connection, norm,
qkv, proj_out). Every case runs in eval mode (dropout off). Parameters are random (not the zero
initialisations), so that every gradient is exercised: weights N(0, 1/fan_in), norm scales 1 + 0.3 N, biases
0.3 N.

Run with Debian's interpreter (python3-torch 1.13, CPU):

    /usr/bin/python3 tests/reference/generate_module_cases.py --out tests/reference/cases

Writes only module_*.safetensors files (and removes stale module_* files there). The safetensors writer and the
seeding rule are those of generate_cases.py; F32 and F64 variants share the same data (drawn in float64).
"""

import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_cases import _DT, read_safetensors, seed_of, write_safetensors  # noqa: E402

D64 = torch.float64


def N(*shape, scale=1.0):
    return torch.randn(tuple(shape), dtype=D64) * scale


# ----------------------------------------------------------------------------------------------------------
# PyTorch mirrors of the reference blocks


def default_factors(dims, factors):
    if factors is None:
        return (1, 2, 2) if dims == 3 else (2, 2)
    return tuple(factors)


class ResBlock(nn.Module):
    """ldae-reference 4.1 (and 5.2 with semantic=True: the ShiftResBlock)."""

    def __init__(self, channels, emb_channels, out_channels=None, dropout=0.0, dims=3, num_groups=32,
                 use_conv=False, up=False, down=False, resample_factors=None, semantic=False):
        super().__init__()
        out = out_channels or channels
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.dims, self.up, self.down = dims, up, down
        self.factors = default_factors(dims, resample_factors)
        self.in_layers = nn.Sequential(nn.GroupNorm(num_groups, channels), nn.SiLU(),
                                       conv(channels, out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out))
        self.semantic = semantic
        if semantic:
            self.emb_z_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out))
        self.out_layers = nn.Sequential(nn.GroupNorm(num_groups, out), nn.SiLU(), nn.Dropout(p=dropout),
                                        conv(out, out, 3, padding=1))
        for p in self.out_layers[3].parameters():  # zero-init (overwritten by the random parameters)
            p.detach().zero_()
        if out == channels:
            self.skip_connection = nn.Identity()
        elif use_conv:
            self.skip_connection = conv(channels, out, 3, padding=1)
        else:
            self.skip_connection = conv(channels, out, 1)

    def resample(self, x):
        if self.up:
            size = tuple(s * f for s, f in zip(x.shape[2:], self.factors))
            return F.interpolate(x, size=size, mode="nearest")
        if self.down:
            pool = F.avg_pool3d if self.dims == 3 else F.avg_pool2d
            return pool(x, kernel_size=self.factors, stride=self.factors)
        return x

    def forward(self, x, emb, emb_z=None):
        h = self.in_layers[:-1](x)
        h = self.resample(h)
        x = self.resample(x)
        h = self.in_layers[-1](h)
        e = self.emb_layers(emb)[(...,) + (None,) * self.dims]
        scale, shift = torch.chunk(e, 2, dim=1)
        h = self.out_layers[0](h) * (1.0 + scale) + shift
        if self.semantic:
            ez = self.emb_z_layers(emb_z)[(...,) + (None,) * self.dims]
            z_scale, z_shift = torch.chunk(ez, 2, dim=1)
            h = (1.0 + z_scale) * h + z_shift
        h = self.out_layers[1:](h)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """ldae-reference 4.1: GN -> 1x1 Conv1d qkv -> softmax(q.k / sqrt(ch)) (scale split ch^-1/4 on q and k)
    -> 1x1 Conv1d proj_out -> residual. Legacy order: heads first, then q, k, v."""

    def __init__(self, channels, num_heads=1, num_head_channels=-1, num_groups=32,
                 use_new_attention_order=False):
        super().__init__()
        self.num_heads = num_heads if num_head_channels == -1 else channels // num_head_channels
        self.new_order = use_new_attention_order
        self.norm = nn.GroupNorm(num_groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        b, c = x.shape[:2]
        spatial = x.shape[2:]
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        bs, width, length = qkv.shape
        ch = width // (3 * self.num_heads)
        if self.new_order:
            q, k, v = [t.reshape(bs * self.num_heads, ch, length) for t in qkv.chunk(3, dim=1)]
        else:
            q, k, v = qkv.reshape(bs * self.num_heads, ch * 3, length).split(ch, dim=1)
        s = 1.0 / math.sqrt(math.sqrt(ch))
        w = torch.softmax(torch.einsum("bct,bcs->bts", q * s, k * s), dim=-1)
        a = torch.einsum("bts,bcs->bct", w, v).reshape(bs, -1, length)
        h = self.proj_out(a)
        return (x + h).reshape(b, c, *spatial)


def timestep_embedding(t, dim, max_period=10000.0):
    """ldae-reference 4.1: first half cos, second half sin, frequencies exp(-ln(max_period) i / half); computed
    in t's dtype."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=t.dtype) / half)
    args = t[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedding(nn.Module):  # no parameters: the sinusoids alone
    def __init__(self, dim, max_period=10000.0):
        super().__init__()
        self.dim, self.max_period = dim, max_period

    def forward(self, t):
        return timestep_embedding(t, self.dim, self.max_period)


class TimeEmbed(nn.Sequential):
    """The UNet's time_embed: sinusoids(model_channels) -> Linear -> SiLU -> Linear."""

    def __init__(self, model_channels, time_embed_dim):
        super().__init__(nn.Linear(model_channels, time_embed_dim), nn.SiLU(),
                         nn.Linear(time_embed_dim, time_embed_dim))
        self.model_channels = model_channels

    def forward(self, t):
        return super().forward(timestep_embedding(t, self.model_channels))


class Upsample(nn.Module):
    def __init__(self, scale_factor, mode="nearest"):
        super().__init__()
        self.scale_factor, self.mode = [float(f) for f in scale_factor], mode

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode)


# ----------------------------------------------------------------------------------------------------------
# case table

CASES = []


def mcase(name, variant, build, kwargs, make_inputs, diff=None, call=None):
    """name: module name (op = module:<name>); build(**kwargs) -> torch module; make_inputs() -> float64 tensors;
    diff: indices of differentiable inputs (default all); call(module, inputs) -> out (default module(*inputs))."""
    CASES.append(dict(name=name, variant=variant, build=build, kwargs=dict(kwargs), make_inputs=make_inputs,
                      diff=diff, call=call))


def timesteps(*values):
    return torch.tensor(values, dtype=D64)


# --- layers
mcase("linear", "bias", lambda **k: nn.Linear(**k), {"in_features": 6, "out_features": 5, "bias": True},
      lambda: [N(2, 3, 6)])
mcase("linear", "nobias", lambda **k: nn.Linear(**k), {"in_features": 4, "out_features": 3, "bias": False},
      lambda: [N(5, 4)])


def conv_kw(cin, cout, k, stride=1, padding=0, dilation=1, groups=1, bias=True):
    return {"in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": stride, "padding": padding,
            "dilation": dilation, "groups": groups, "bias": bias}


mcase("conv3d", "k3_pad1", lambda **k: nn.Conv3d(**k), conv_kw(3, 4, [3, 3, 3], padding=[1, 1, 1]),
      lambda: [N(2, 3, 4, 5, 4)])
mcase("conv3d", "k1_nobias", lambda **k: nn.Conv3d(**k), conv_kw(4, 2, [1, 1, 1], bias=False),
      lambda: [N(2, 4, 3, 2, 3)])
mcase("conv3d", "aniso_stride_groups", lambda **k: nn.Conv3d(**k),
      conv_kw(4, 6, [1, 3, 3], stride=[1, 2, 2], padding=[0, 1, 1], groups=2), lambda: [N(1, 4, 3, 5, 6)])
mcase("conv2d", "k3_pad1", lambda **k: nn.Conv2d(**k), conv_kw(3, 4, [3, 3], padding=[1, 1]),
      lambda: [N(2, 3, 5, 4)])
mcase("conv1d", "k1", lambda **k: nn.Conv1d(**k), conv_kw(4, 12, [1]), lambda: [N(2, 4, 7)])
mcase("conv1d", "k3_pad1_stride2", lambda **k: nn.Conv1d(**k), conv_kw(3, 4, [3], stride=[2], padding=[1]),
      lambda: [N(2, 3, 9)])

mcase("group_norm", "g2_c4", lambda **k: nn.GroupNorm(**k),
      {"num_groups": 2, "num_channels": 4, "eps": 1e-5, "affine": True}, lambda: [N(2, 4, 3, 2, 3, scale=2.0) + 0.5])
mcase("group_norm", "g3_c6_3d_eps1e-6", lambda **k: nn.GroupNorm(**k),
      {"num_groups": 3, "num_channels": 6, "eps": 1e-6, "affine": True}, lambda: [N(2, 6, 5)])
mcase("layer_norm", "last8", lambda **k: nn.LayerNorm(**k),
      {"normalized_shape": [8], "eps": 1e-5, "elementwise_affine": True}, lambda: [N(2, 3, 8, scale=2.0) + 0.5])

mcase("upsample", "nearest_122", lambda **k: Upsample(**k), {"scale_factor": [1.0, 2.0, 2.0], "mode": "nearest"},
      lambda: [N(2, 2, 2, 3, 2)])
mcase("upsample", "nearest_222", lambda **k: Upsample(**k), {"scale_factor": [2.0, 2.0, 2.0], "mode": "nearest"},
      lambda: [N(1, 2, 2, 2, 3)])
mcase("avg_pool3d", "k122", lambda **k: nn.AvgPool3d(**k), {"kernel_size": [1, 2, 2], "stride": [1, 2, 2]},
      lambda: [N(2, 2, 3, 4, 6)])
mcase("avg_pool3d", "k2", lambda **k: nn.AvgPool3d(**k), {"kernel_size": [2, 2, 2], "stride": [2, 2, 2]},
      lambda: [N(1, 2, 4, 4, 5)])


# --- attention
def mha(**k):
    return nn.MultiheadAttention(**k)


def mha_call(m, xs):
    if len(xs) == 1:  # self-attention: the same tensor as query, key and value
        return m(xs[0], xs[0], xs[0])[0]
    return m(xs[0], xs[1], xs[2])[0]


MHA_KW = {"embed_dim": 8, "num_heads": 2, "dropout": 0.0, "bias": True, "batch_first": True}
mcase("multihead_attention", "self_e8_h2", mha, MHA_KW, lambda: [N(2, 5, 8)], call=mha_call)
mcase("multihead_attention", "cross_e8_h2", mha, MHA_KW, lambda: [N(2, 1, 8), N(2, 6, 8), N(2, 6, 8)],
      call=mha_call)
mcase("multihead_attention", "cross_e6_h1", mha, dict(MHA_KW, embed_dim=6, num_heads=1),
      lambda: [N(1, 3, 6), N(1, 4, 6), N(1, 4, 6)], call=mha_call)

ATTN_KW = {"channels": 4, "num_heads": 1, "num_head_channels": -1, "num_groups": 2,
           "use_new_attention_order": False}
mcase("attention_block", "c4_h1_3d", lambda **k: AttentionBlock(**k), ATTN_KW, lambda: [N(2, 4, 2, 3, 2)])
mcase("attention_block", "c8_h2_legacy", lambda **k: AttentionBlock(**k),
      dict(ATTN_KW, channels=8, num_heads=2, num_groups=4), lambda: [N(1, 8, 2, 2, 3)])
mcase("attention_block", "c8_hc4_new_order", lambda **k: AttentionBlock(**k),
      dict(ATTN_KW, channels=8, num_head_channels=4, num_groups=4, use_new_attention_order=True),
      lambda: [N(1, 8, 3, 2, 2)])


# --- residual blocks
def resblock_kw(channels, emb_channels, out_channels, dims=3, num_groups=2, use_conv=False, up=False, down=False,
                factors=None):
    kw = {"channels": channels, "emb_channels": emb_channels, "out_channels": out_channels, "dropout": 0.1,
          "dims": dims, "num_groups": num_groups, "use_conv": use_conv, "up": up, "down": down}
    if factors is not None:
        kw["resample_factors"] = factors
    return kw


for blockname, semantic in [("resblock", False), ("shiftresblock", True)]:
    def build(semantic=semantic, **k):
        return ResBlock(semantic=semantic, **k)

    def inputs(shape, emb=6, semantic=semantic):
        xs = [N(*shape), N(shape[0], emb)]
        if semantic:
            xs.append(N(shape[0], emb))
        return xs

    mcase(blockname, "same_ch", build, resblock_kw(4, 6, 4), lambda inputs=inputs: inputs((2, 4, 2, 3, 4)))
    mcase(blockname, "ch4to6_skip1x1", build, resblock_kw(4, 6, 6), lambda inputs=inputs: inputs((2, 4, 2, 3, 2)))
    mcase(blockname, "down_122", build, resblock_kw(4, 6, 4, down=True),
          lambda inputs=inputs: inputs((2, 4, 2, 4, 4)))
    mcase(blockname, "up_122_ch4to6", build, resblock_kw(4, 6, 6, up=True),
          lambda inputs=inputs: inputs((1, 4, 2, 2, 3)))
    if not semantic:
        mcase(blockname, "use_conv_skip", build, resblock_kw(4, 6, 6, use_conv=True),
              lambda inputs=inputs: inputs((1, 4, 2, 3, 3)))
        mcase(blockname, "down_222_iso", build, resblock_kw(4, 6, 4, down=True, factors=[2, 2, 2]),
              lambda inputs=inputs: inputs((1, 4, 4, 4, 2)))
        mcase(blockname, "2d_down", build, resblock_kw(4, 6, 6, dims=2, down=True),
              lambda inputs=inputs: inputs((2, 4, 4, 6)))

# --- timestep embeddings (timesteps are data: no gin0)
mcase("timestep_embedding", "dim8", lambda **k: TimestepEmbedding(**k), {"dim": 8, "max_period": 10000.0},
      lambda: [timesteps(0, 1, 10, 250, 999)], diff=[])
mcase("timestep_embedding", "dim7_odd", lambda **k: TimestepEmbedding(**k), {"dim": 7, "max_period": 10000.0},
      lambda: [timesteps(0, 3, 500)], diff=[])
mcase("time_embed", "c8_e16", lambda **k: TimeEmbed(**k), {"model_channels": 8, "time_embed_dim": 16},
      lambda: [timesteps(0, 17, 999)], diff=[])


# ----------------------------------------------------------------------------------------------------------
# running a case

def randomise_parameters(module):
    """Random values for every parameter (in named_parameters order), drawn in float64."""
    with torch.no_grad():
        for pname, p in module.named_parameters():
            if p.dim() >= 2:
                fan_in = 1
                for s in p.shape[1:]:
                    fan_in *= s
                p.copy_(N(*p.shape, scale=1.0 / math.sqrt(fan_in)))
            elif pname.endswith("weight"):
                p.copy_(1.0 + N(*p.shape, scale=0.3))
            else:
                p.copy_(N(*p.shape, scale=0.3))


def run_case(c, dtype):
    base = "module_%s_%s" % (c["name"], c["variant"])
    name = "%s_%s" % (base, _DT[dtype][0].lower())
    seed = seed_of(base)  # the same data (up to rounding) in F32 and F64
    torch.manual_seed(seed)
    module = c["build"](**c["kwargs"]).to(D64)
    randomise_parameters(module)
    module = module.to(dtype)
    module.eval()  # module cases run in eval mode (dropout off)
    raw = c["make_inputs"]()
    diff = c["diff"] if c["diff"] is not None else list(range(len(raw)))
    xs = []
    for i, r in enumerate(raw):
        x = r.to(dtype).contiguous()
        if i in diff:
            x.requires_grad_(True)
        xs.append(x)
    call = c["call"] or (lambda m, inputs: m(*inputs))
    out = call(module, xs)
    assert out.dtype == dtype, (name, out.dtype)
    params = list(module.named_parameters())

    tensors = [("in%d" % i, x) for i, x in enumerate(xs)]
    tensors += [("param." + n, p) for n, p in params]
    tensors.append(("out", out))
    targets = [xs[i] for i in diff] + [p for _, p in params]
    if targets:
        gout = torch.randn(tuple(out.shape), dtype=D64).to(dtype)
        grads = torch.autograd.grad(out, targets, gout, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(targets, grads)]
        tensors.append(("gout", gout))
        tensors += [("gin%d" % i, g) for i, g in zip(diff, grads[:len(diff)])]
        tensors += [("gparam." + n, g) for (n, _), g in zip(params, grads[len(diff):])]
    for n, t in tensors:
        assert t.dtype == dtype and torch.isfinite(t).all(), (name, n)

    meta = {"op": "module:" + c["name"]}
    for k, v in c["kwargs"].items():
        meta[k] = json.dumps(v)
    meta["name"] = name
    meta["seed"] = str(seed)
    return name, [(n, t.detach()) for n, t in tensors], meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the module_*.safetensors cases")
    ap.add_argument("--only", default=None, help="generate only the cases of this module name")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    written = set()
    total = 0
    names = []
    for c in CASES:
        if args.only and c["name"] != args.only:
            continue
        for dtype in (torch.float32, torch.float64):
            name, tensors, meta = run_case(c, dtype)
            fname = name + ".safetensors"
            assert fname not in written, "duplicate case " + fname
            path = os.path.join(args.out, fname)
            write_safetensors(path, tensors, meta)
            back, bmeta = read_safetensors(path)
            assert bmeta == meta and list(back) == [n for n, _ in tensors], name
            for n, t in tensors:
                assert torch.equal(back[n], t), (name, n)
            written.add(fname)
            total += os.path.getsize(path)
        if c["name"] not in names:
            names.append(c["name"])

    if not args.only:
        for f in sorted(os.listdir(args.out)):
            if f.startswith("module_") and f.endswith(".safetensors") and f not in written:
                os.remove(os.path.join(args.out, f))
                print("removed stale case", f)

    print("%d module cases, %d modules, %.1f KiB in %s" % (len(written), len(names), total / 1024.0, args.out))
    print("modules:", " ".join(names))


if __name__ == "__main__":
    main()
