#!/usr/bin/python3
"""Generate the whole-network reference cases (`op` = `module:<net>`, reference-cases.md "Whole networks").

One case = one safetensors file `network_<net>_<variant>_<f32|f64>.safetensors`:
  - `in0, in1, ...`   the forward's inputs (timesteps: a float tensor of whole numbers, not differentiable);
  - `param.<key>`     every state-dict entry under its published key, buffers included (batch norm running
                      statistics, `num_batches_tracked` as a 0-d float, the semantic encoder's `pe` table);
  - `out` / `out<k>`, `gout` / `gout<k>`   the output(s) and the upstream gradient(s);
  - `gin<k>`          d sum_k sum(out_k * gout_k) / d in<k>;
  - `gparam.<key>`    the same gradient for every parameter that receives one (none for the ShiftUNet's frozen
                      UNet part, frozen as published, nor for the autoencoder's unused proj_attn);
  - `__metadata__`    `op`, the published constructor arguments (JSON), `method` for autoencoder_kl, `name`, `seed`.

The networks are the twins of ldae_torch_nets.py at small configurations, including ones our presets do not use
(odd sizes, attention levels and non-local blocks in the autoencoder, several heads / head widths and the new
attention order in the UNets, isotropic resampling, 2D and 3D). Every parameter is random (zero-initialised layers
included), and so are the batch-norm running statistics. Cases run in eval mode.

Two UNet / ShiftUNet metadata keys are not published constructor arguments: `num_groups` (the published code
hard-codes 32 groups, which would make every test network hundreds of thousands of parameters) and
`isotropic_resampling` (our 2x2x2 resampling option; published: (1, 2, 2) for dims 3). Both are fields of
ldae::nets::UNetOptions.

    /usr/bin/python3 tests/reference/generate_network_cases.py --out tests/reference/cases [--only NET]

Writes only network_*.safetensors (and removes stale network_* files there unless --only). Seeding, file format
and F32/F64 rules are those of generate_cases.py (data drawn in float64 from the CRC-32 of the base name).
"""

import argparse
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate_cases import _DT, read_safetensors, seed_of, write_safetensors  # noqa: E402
import ldae_torch_nets as nets  # noqa: E402

D64 = torch.float64


def N(*shape, scale=1.0):
    return torch.randn(tuple(shape), dtype=D64) * scale


def U(*shape, lo=0.0, hi=1.0):
    return lo + (hi - lo) * torch.rand(tuple(shape), dtype=D64)


def steps(*values):
    return torch.tensor(values, dtype=D64)


# ----------------------------------------------------------------------------------------------------------
# case table

CASES = []


def ncase(net, variant, kwargs, make_inputs, diff=None, method=None, pending=None):
    """kwargs: the published constructor arguments (metadata); make_inputs() -> float64 tensors; diff: indices
    of differentiable inputs (default: all); method: autoencoder_kl's method; pending: why our network fails the
    case today (it is then written to --pending, which CTest does not run, instead of --out)."""
    CASES.append(dict(net=net, variant=variant, kwargs=dict(kwargs), make_inputs=make_inputs, diff=diff,
                      method=method, pending=pending))


def ae_kw(spatial_dims, in_channels, out_channels, num_channels, latent_channels, num_res_blocks, norm_num_groups,
          norm_eps, attention_levels, enc_nonlocal, dec_nonlocal):
    return {"spatial_dims": spatial_dims, "in_channels": in_channels, "out_channels": out_channels,
            "num_channels": num_channels, "latent_channels": latent_channels, "num_res_blocks": num_res_blocks,
            "norm_num_groups": norm_num_groups, "norm_eps": norm_eps, "attention_levels": attention_levels,
            "with_encoder_nonlocal_attn": enc_nonlocal, "with_decoder_nonlocal_attn": dec_nonlocal}


# --- autoencoder_kl: odd sizes (the padded stride-2 downsampling), attention levels, non-local blocks
ncase("autoencoder_kl", "3d_attn_nonlocal_odd_reconstruct",
      ae_kw(3, 1, 1, [2, 4], 2, [1, 1], 2, 1e-6, [False, True], True, True),
      lambda: [U(1, 1, 6, 5, 7)], method="reconstruct")
ncase("autoencoder_kl", "3d_3levels_encode",
      ae_kw(3, 1, 1, [2, 2, 4], 3, [2, 1, 1], 1, 1e-6, [False, False, False], True, False),
      lambda: [U(2, 1, 8, 6, 9)], method="encode")
ncase("autoencoder_kl", "3d_attn_level0_decode",
      ae_kw(3, 1, 1, [2, 4], 3, [1], 2, 1e-5, [True, False], False, False),
      lambda: [N(1, 3, 3, 2, 4)], method="decode")
ncase("autoencoder_kl", "2d_attn_all_reconstruct",
      ae_kw(2, 2, 1, [2, 4, 4], 2, [1, 1, 1], 2, 1e-6, [True, True, True], True, True),
      lambda: [U(2, 2, 10, 7)], method="reconstruct")

# --- patch_discriminator: batch norm on random running statistics, last conv stride 1
LRELU = ["LEAKYRELU", {"negative_slope": 0.2}]


def pd_kw(spatial_dims, num_layers_d, num_channels, in_channels, out_channels, kernel_size, bias, padding):
    return {"spatial_dims": spatial_dims, "num_layers_d": num_layers_d, "num_channels": num_channels,
            "in_channels": in_channels, "out_channels": out_channels, "kernel_size": kernel_size,
            "activation": LRELU, "norm": "BATCH", "bias": bias, "padding": padding}


ncase("patch_discriminator", "3d_l2_c2", pd_kw(3, 2, 2, 1, 1, 4, False, 1), lambda: [N(1, 1, 16, 13, 18)])
ncase("patch_discriminator", "2d_l3_c2", pd_kw(2, 3, 2, 1, 1, 4, False, 1), lambda: [N(2, 1, 34, 29)])
ncase("patch_discriminator", "2d_l2_c2_bias_in2_out2", pd_kw(2, 2, 2, 2, 2, 4, True, 1), lambda: [N(3, 2, 15, 18)])
ncase("patch_discriminator", "3d_l2_k3", pd_kw(3, 2, 2, 1, 1, 3, False, 1), lambda: [N(2, 1, 9, 8, 11)])


# --- unet / shift_unet
def unet_kw(base, mult, nrb, attn, heads=1, head_channel=-1, new_order=False, dims=3, groups=2, iso=False):
    kw = {"input_channel": 3, "base_channel": base, "channel_multiplier": mult,
          "num_residual_blocks_of_a_block": nrb, "attention_resolutions": attn, "num_heads": heads,
          "head_channel": head_channel, "use_new_attention_order": new_order, "dropout": 0.1, "dims": dims,
          "num_groups": groups}
    if iso:
        kw["isotropic_resampling"] = True
    return kw


ncase("unet", "3d_122_legacy", unet_kw(2, [1, 2], 1, [2]),
      lambda: [N(2, 3, 2, 4, 6), steps(3, 517)], diff=[0])
ncase("unet", "3d_iso_2heads_new_order", unet_kw(2, [1, 2], 1, [1, 2], heads=2, new_order=True, groups=1,
                                                  iso=True),
      lambda: [N(1, 3, 4, 4, 2), steps(999)], diff=[0])
ncase("unet", "3d_1level_head_channel1", unet_kw(2, [1], 1, [1], heads=3, head_channel=1),
      lambda: [N(1, 3, 3, 4, 4), steps(0)], diff=[0])
ncase("unet", "3d_mult0_is_2", unet_kw(2, [2, 2], 1, [2]), lambda: [N(1, 3, 2, 4, 4), steps(5)], diff=[0])
ncase("unet", "2d_3levels_nrb2", unet_kw(2, [1, 2, 2], 2, [4], groups=2, dims=2),
      lambda: [N(2, 3, 8, 12), steps(250, 1)], diff=[0])

ncase("shift_unet", "3d_122_legacy", dict(unet_kw(2, [1, 2], 1, [2]), latent_dim=6),
      lambda: [N(2, 3, 2, 4, 4), steps(7, 640), N(2, 6)], diff=[0, 2])
ncase("shift_unet", "2d_head_channel2_new_order",
      dict(unet_kw(2, [1, 2], 2, [1], head_channel=2, new_order=True, dims=2), latent_dim=5),
      lambda: [N(1, 3, 6, 4), steps(42), N(1, 5)], diff=[0, 2])


# --- convnext / attention_semantic_encoder
def cx_kw(dims, depths, in_channels, sdp=0.1):
    return {"dims": dims, "depths": depths, "layer_scale": 1e-6, "stochastic_depth_prob": sdp,
            "in_channels": in_channels}


ncase("convnext", "2stages_gray", cx_kw([4, 8], [1, 2], 1), lambda: [U(2, 1, 16, 20)])
ncase("convnext", "3stages_rgb_odd", cx_kw([4, 8, 8], [2, 1, 1], 3), lambda: [N(1, 3, 21, 19)])


def ase_kw(emb, heads, seq_len, dims, depths):
    return {"emb_chans": emb, "num_heads": heads, "attn_dropout": 0.1, "seq_len": seq_len, "backbone_dims": dims,
            "backbone_depths": depths, "layer_scale": 1e-6, "stochastic_depth_prob": 0.4, "grayscale": True}


ncase("attention_semantic_encoder", "s5_of_8_h2", ase_kw(8, 2, 8, [4, 8], [1, 1]), lambda: [U(2, 1, 5, 16, 12)])
ncase("attention_semantic_encoder", "s6_of_6_h4_odd", ase_kw(8, 4, 6, [4, 8], [1, 1]), lambda: [U(1, 1, 6, 13, 17)])


# ----------------------------------------------------------------------------------------------------------
# building and running a case

BUILDERS = {
    "autoencoder_kl": nets.AutoencoderKL,
    "patch_discriminator": nets.PatchDiscriminator,
    "unet": nets.UNet,
    "shift_unet": nets.ShiftUNet,
    "convnext": nets.ConvNeXt,
    "attention_semantic_encoder": nets.AttentionSemanticEncoder,
}


def randomise(module):
    """Random values for every parameter and float buffer, drawn in float64 in state-dict order: weights of rank
    >= 2 N(0, 1/fan_in), 1-D weights 1 + 0.3 N, other parameters 0.3 N; batch-norm running means 0.3 N, running
    variances U(0.5, 1.5), num_batches_tracked 7. The positional-encoding table keeps its fixed values."""
    params = dict(module.named_parameters())
    with torch.no_grad():
        for key, t in module.state_dict(keep_vars=True).items():
            if key in params:
                if t.dim() >= 2:
                    t.copy_(N(*t.shape, scale=1.0 / math.sqrt(t[0].numel())))
                elif key.endswith("weight"):
                    t.copy_(1.0 + N(*t.shape, scale=0.3))
                else:
                    t.copy_(N(*t.shape, scale=0.3))
            elif key.endswith("running_mean"):
                t.copy_(N(*t.shape, scale=0.3))
            elif key.endswith("running_var"):
                t.copy_(U(*t.shape, lo=0.5, hi=1.5))
            elif key.endswith("num_batches_tracked"):
                t.fill_(7)
            elif not key.endswith(".pe"):
                raise AssertionError("unexpected buffer " + key)


def call(c, module, xs):
    """The case's forward: a list of outputs."""
    if c["net"] == "autoencoder_kl":
        if c["method"] == "encode":
            return list(module.encode(*xs))
        return [getattr(module, c["method"])(*xs)]
    out = module(*xs)
    return list(out) if isinstance(out, tuple) else [out]


def run_case(c, dtype):
    base = "network_%s_%s" % (c["net"], c["variant"])
    name = "%s_%s" % (base, _DT[dtype][0].lower())
    seed = seed_of(base)  # the same data (up to rounding) in F32 and F64
    torch.manual_seed(seed)
    module = BUILDERS[c["net"]](**c["kwargs"]).to(D64)
    randomise(module)
    module = module.to(dtype)
    module.eval()
    raw = c["make_inputs"]()
    diff = c["diff"] if c["diff"] is not None else list(range(len(raw)))
    xs = []
    for i, r in enumerate(raw):
        x = r.to(dtype).contiguous()
        if i in diff:
            x.requires_grad_(True)
        xs.append(x)
    outs = call(c, module, xs)
    gouts = [torch.randn(tuple(o.shape), dtype=D64).to(dtype) for o in outs]
    trainable = [(k, p) for k, p in module.named_parameters() if p.requires_grad]
    targets = [xs[i] for i in diff] + [p for _, p in trainable]
    grads = list(torch.autograd.grad(outs, targets, gouts, allow_unused=True))

    tensors = [("in%d" % i, x) for i, x in enumerate(xs)]
    for key, t in module.state_dict().items():  # every entry, buffers included
        tensors.append(("param." + key, t.to(dtype)))  # num_batches_tracked: a 0-d float
    if len(outs) == 1:
        tensors += [("out", outs[0]), ("gout", gouts[0])]
    else:
        tensors += [("out%d" % k, o) for k, o in enumerate(outs)]
        tensors += [("gout%d" % k, g) for k, g in enumerate(gouts)]
    # No gparam for a parameter the outputs do not use (the autoencoder's proj_attn): PyTorch leaves its
    # gradient None. Every input in `diff` is used.
    tensors += [("gin%d" % i, g) for i, g in zip(diff, grads[:len(diff)])]
    tensors += [("gparam." + k, g) for (k, _), g in zip(trainable, grads[len(diff):]) if g is not None]
    for n, t in tensors:
        assert t.dtype == dtype and torch.isfinite(t).all(), (name, n)
    for n, t in tensors:  # every gradient is exercised
        if n.startswith("gin") or n.startswith("gparam."):
            assert t.abs().max() > 0, (name, n, "a zero gradient tests nothing")

    meta = {"op": "module:" + c["net"]}
    for k, v in c["kwargs"].items():
        meta[k] = json.dumps(v)
    if c["method"]:
        meta["method"] = json.dumps(c["method"])
    meta["name"] = name
    meta["seed"] = str(seed)
    return name, [(n, t.detach()) for n, t in tensors], meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the network_*.safetensors cases")
    ap.add_argument("--pending", default=os.path.join(HERE, "pending"),
                    help="folder for the cases our networks fail today (not run by CTest)")
    ap.add_argument("--only", default=None, help="generate only the cases of this network")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    written, total = set(), 0
    for c in CASES:
        if args.only and c["net"] != args.only:
            continue
        size = 0
        for dtype in (torch.float32, torch.float64):
            name, tensors, meta = run_case(c, dtype)
            fname = name + ".safetensors"
            assert fname not in written, "duplicate case " + fname
            folder = args.pending if c["pending"] else args.out
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, fname)
            write_safetensors(path, tensors, meta)
            back, bmeta = read_safetensors(path)
            assert bmeta == meta and list(back) == [n for n, _ in tensors], name
            for n, t in tensors:
                assert torch.equal(back[n], t), (name, n)
            written.add(fname)
            size += os.path.getsize(path)
        total += 0 if c["pending"] else size
        n_params = sum(1 for n, _ in tensors if n.startswith("param."))
        print("%-60s %4d state-dict entries %8.1f KiB%s" % ("network_%s_%s" % (c["net"], c["variant"]), n_params,
                                                              size / 1024.0, " PENDING" if c["pending"] else ""))

    if not args.only:
        for folder in (args.out, args.pending):
            for f in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                if f.startswith("network_") and f.endswith(".safetensors") and f not in written:
                    os.remove(os.path.join(folder, f))
                    print("removed stale case", f)
    print("%d network case files, %.1f KiB in %s (pending ones not counted)" % (len(written), total / 1024.0,
                                                                              args.out))


if __name__ == "__main__":
    main()
