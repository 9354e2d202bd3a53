#!/usr/bin/python3
"""Generate the PyTorch reference cases (one safetensors file per case).

Format: reference-cases.md (project docs) (tensors in0.., out, gout, gin0..; metadata `op`, one key per keyword
argument with a JSON-encoded value, plus `name` and `seed`).

Run with Debian's interpreter (python3-torch 1.13, CPU):

    /usr/bin/python3 tests/reference/generate_cases.py --out tests/reference/cases

Only the standard library and torch are used. Output is deterministic: every case seeds torch with a
fixed number derived from its name, runs single-threaded, and the files are written byte by byte here.
"""

import argparse
import array
import json
import math
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------------
# safetensors writer / reader (no numpy, no safetensors package)

_DT = {torch.float32: ("F32", "f", 4), torch.float64: ("F64", "d", 8)}
_DT_BY_NAME = {"F32": (torch.float32, "f", 4), "F64": (torch.float64, "d", 8)}


def tensor_bytes(t):
    """Raw little-endian bytes of a float32/float64 tensor, row-major."""
    _, code, _ = _DT[t.dtype]
    a = array.array(code, t.detach().contiguous().reshape(-1).tolist())
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order; metadata: dict str -> str."""
    header = {"__metadata__": dict(metadata)}
    blobs = []
    offset = 0
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {
            "dtype": _DT[t.dtype][0],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns (dict name -> float64/float32 tensor, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        dtype, code, size = _DT_BY_NAME[info["dtype"]]
        s, e = info["data_offsets"]
        a = array.array(code)
        a.frombytes(data[base + s:base + e])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = torch.tensor(a.tolist(), dtype=dtype).reshape(info["shape"])
    return out, meta


# ----------------------------------------------------------------------------------------------------------
# random input helpers (all draw float64 from the global generator, seeded per case)

D64 = torch.float64


def N(*shape, scale=1.0):
    """Standard normal times scale."""
    return torch.randn(tuple(shape), dtype=D64) * scale


def U(lo, hi, *shape):
    """Uniform in [lo, hi)."""
    return lo + (hi - lo) * torch.rand(tuple(shape), dtype=D64)


def away(*shape, lo=0.1, hi=2.0):
    """Random sign times uniform in [lo, hi): bounded away from zero (kinks, poles)."""
    sign = torch.where(torch.rand(tuple(shape), dtype=D64) < 0.5, -1.0, 1.0).to(D64)
    return sign * U(lo, hi, *shape)


def pos(*shape, lo=0.2, hi=3.0):
    return U(lo, hi, *shape)


def W(*shape):
    """Convolution / linear weight scaled by 1/sqrt(fan_in) so outputs stay O(1)."""
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    return N(*shape, scale=1.0 / math.sqrt(max(fan_in, 1)))


# ----------------------------------------------------------------------------------------------------------
# case table

CASES = []


def case(op, variant, fn, make_inputs, kwargs=None, diff=None):
    """op: PyTorch function name; fn(inputs, **kwargs) -> out; make_inputs() -> list of float64 tensors;
    kwargs: keyword arguments (recorded JSON-encoded in the metadata); diff: indices of differentiable
    inputs (default: all)."""
    CASES.append(dict(op=op, variant=variant, fn=fn, make_inputs=make_inputs,
                      kwargs=dict(kwargs or {}), diff=diff))


def one(f):
    return lambda xs, **kw: f(*xs, **kw)


# --- elementwise binary, with broadcasting
for opname, f in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul)]:
    case(opname, "same", one(f), lambda: [N(2, 3, 4), N(2, 3, 4)])
    case(opname, "bcast_234_31", one(f), lambda: [N(2, 3, 4), N(3, 1)])
    case(opname, "bcast_4_214", one(f), lambda: [N(4), N(2, 1, 4)])
    case(opname, "bcast_214_31", one(f), lambda: [N(2, 1, 4), N(3, 1)])
case("div", "same", one(torch.div), lambda: [N(2, 3, 4), away(2, 3, 4, lo=0.5)])
case("div", "bcast_234_31", one(torch.div), lambda: [N(2, 3, 4), away(3, 1, lo=0.5)])
case("div", "bcast_4_214", one(torch.div), lambda: [N(4), away(2, 1, 4, lo=0.5)])
case("div", "bcast_214_31", one(torch.div), lambda: [N(2, 1, 4), away(3, 1, lo=0.5)])

# --- elementwise unary
case("neg", "basic", one(torch.neg), lambda: [N(2, 3, 4)])
case("exp", "basic", one(torch.exp), lambda: [N(2, 3, 4)])
case("log", "pos", one(torch.log), lambda: [pos(2, 3, 4, lo=0.1)])
case("sqrt", "pos", one(torch.sqrt), lambda: [pos(2, 3, 4)])
case("pow", "exp2", one(torch.pow), lambda: [N(2, 3, 4)], {"exponent": 2.0})
case("pow", "exp3", one(torch.pow), lambda: [N(2, 3, 4)], {"exponent": 3.0})
case("pow", "exp0.5_pos", one(torch.pow), lambda: [pos(2, 3, 4)], {"exponent": 0.5})
case("pow", "expm1.5_pos", one(torch.pow), lambda: [pos(2, 3, 4, lo=0.3)], {"exponent": -1.5})
case("abs", "away0", one(torch.abs), lambda: [away(2, 3, 4)])
case("tanh", "basic", one(torch.tanh), lambda: [N(2, 3, 4, scale=1.5)])
case("sigmoid", "basic", one(torch.sigmoid), lambda: [N(2, 3, 4, scale=2.0)])
case("relu", "away0", one(F.relu), lambda: [away(2, 3, 4)])
case("leaky_relu", "slope0.2", one(F.leaky_relu), lambda: [away(2, 3, 4)], {"negative_slope": 0.2})
case("silu", "basic", one(F.silu), lambda: [N(2, 3, 4, scale=2.0)])
case("gelu", "none", one(F.gelu), lambda: [N(2, 3, 4, scale=2.0)], {"approximate": "none"})
case("gelu", "tanh", one(F.gelu), lambda: [N(2, 3, 4, scale=2.0)], {"approximate": "tanh"})

# --- reductions
for opname, f in [("sum", torch.sum), ("mean", torch.mean)]:
    case(opname, "all", one(f), lambda: [N(2, 3, 4)])
    case(opname, "dim1", one(f), lambda: [N(2, 3, 4)], {"dim": [1], "keepdim": False})
    case(opname, "dim1_keep", one(f), lambda: [N(2, 3, 4)], {"dim": [1], "keepdim": True})
    case(opname, "dim02", one(f), lambda: [N(2, 3, 4)], {"dim": [0, 2], "keepdim": False})
    case(opname, "dim02_keep", one(f), lambda: [N(2, 3, 4)], {"dim": [0, 2], "keepdim": True})
    case(opname, "dimm1", one(f), lambda: [N(2, 3, 4, 5)], {"dim": [-1], "keepdim": False})
    case(opname, "dimm1_keep", one(f), lambda: [N(2, 3, 4, 5)], {"dim": [-1], "keepdim": True})
    case(opname, "dim234_5d", one(f), lambda: [N(2, 3, 3, 4, 2)], {"dim": [2, 3, 4], "keepdim": True})
case("logsumexp", "dim1", one(torch.logsumexp), lambda: [N(2, 3, 4, scale=2.0)], {"dim": [1], "keepdim": False})
case("logsumexp", "dimm1_keep", one(torch.logsumexp), lambda: [N(2, 3, 4, scale=2.0)],
     {"dim": [-1], "keepdim": True})
case("logsumexp", "dim02", one(torch.logsumexp), lambda: [N(2, 3, 4, scale=2.0)], {"dim": [0, 2], "keepdim": False})

# --- linear algebra
case("matmul", "2d", one(torch.matmul), lambda: [N(3, 4), N(4, 5)])
case("matmul", "3d", one(torch.matmul), lambda: [N(2, 3, 4), N(2, 4, 5)])
case("matmul", "bcast_2134_542", one(torch.matmul), lambda: [N(2, 1, 3, 4), N(5, 4, 2)])
case("matmul", "bcast_34_245", one(torch.matmul), lambda: [N(3, 4), N(2, 4, 5)])
case("linear", "bias", one(F.linear), lambda: [N(2, 3, 6), W(5, 6), N(5, scale=0.5)])
case("linear", "nobias", one(F.linear), lambda: [N(2, 3, 6), W(5, 6)])

# --- softmax
for opname, f in [("softmax", F.softmax), ("log_softmax", F.log_softmax)]:
    case(opname, "dim1", one(f), lambda: [N(2, 3, 4, 5, scale=2.0)], {"dim": 1})
    case(opname, "dimm1", one(f), lambda: [N(2, 3, 4, 5, scale=2.0)], {"dim": -1})


# --- convolution
def conv_cases(opname, f, spatial):
    nd = len(spatial)
    k3 = [3] * nd

    def cv(stride, padding, dilation, groups):
        return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}

    ones, zeros, twos = [1] * nd, [0] * nd, [2] * nd
    case(opname, "basic_pad1", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *k3), N(4, scale=0.5)],
         cv(ones, ones, ones, 1))
    case(opname, "stride2_pad1", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *k3), N(4, scale=0.5)],
         cv(twos, ones, ones, 1))
    case(opname, "pad0", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *k3), N(4, scale=0.5)],
         cv(ones, zeros, ones, 1))
    case(opname, "dilation2_pad1", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *k3), N(4, scale=0.5)],
         cv(ones, ones, twos, 1))
    case(opname, "groups2", one(f), lambda: [N(2, 4, *spatial), W(6, 2, *k3), N(6, scale=0.5)],
         cv(ones, ones, ones, 2))
    case(opname, "nobias", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *k3)], cv(ones, ones, ones, 1))
    case(opname, "kernel1", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *([1] * nd)), N(4, scale=0.5)],
         cv(ones, zeros, ones, 1))
    # kernel a multiple of the stride: the CPU polyphase path (the PatchDiscriminator's 4^n, stride 2,
    # padding 1; and kernel 2 stride 2 with groups, odd sizes leaving the last plane unread)
    k4 = [4] * nd
    case(opname, "k4_stride2_pad1", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *k4), N(4, scale=0.5)],
         cv(twos, ones, ones, 1))
    case(opname, "k2_stride2_groups2", one(f),
         lambda: [N(2, 4, *spatial), W(6, 2, *twos), N(6, scale=0.5)], cv(twos, zeros, ones, 2))
    # anisotropic kernel / stride / padding (e.g. 1x3x3 with stride 1x2x2)
    ka = [1] + [3] * (nd - 1)
    case(opname, "aniso", one(f), lambda: [N(2, 3, *spatial), W(4, 3, *ka), N(4, scale=0.5)],
         cv([1] + [2] * (nd - 1), [0] + [1] * (nd - 1), ones, 1))


conv_cases("conv2d", F.conv2d, [7, 6])
conv_cases("conv3d", F.conv3d, [5, 6, 5])

# --- pooling and resampling
case("avg_pool3d", "k2_s2", one(F.avg_pool3d), lambda: [N(2, 3, 4, 6, 4)],
     {"kernel_size": [2, 2, 2], "stride": [2, 2, 2]})
case("avg_pool3d", "k122_s122", one(F.avg_pool3d), lambda: [N(2, 3, 3, 4, 6)],
     {"kernel_size": [1, 2, 2], "stride": [1, 2, 2]})
case("avg_pool3d", "k2_s2_odd", one(F.avg_pool3d), lambda: [N(2, 2, 5, 4, 7)],
     {"kernel_size": [2, 2, 2], "stride": [2, 2, 2]})
case("avg_pool3d", "k2_s1_overlap", one(F.avg_pool3d), lambda: [N(1, 2, 3, 4, 5)],
     {"kernel_size": [2, 2, 2], "stride": [1, 1, 1]})


def interp(x, **kw):
    return F.interpolate(x, **kw)


case("interpolate", "nearest_222", one(interp), lambda: [N(2, 2, 2, 3, 2)],
     {"scale_factor": [2.0, 2.0, 2.0], "mode": "nearest"})
case("interpolate", "nearest_122", one(interp), lambda: [N(2, 2, 2, 3, 2)],
     {"scale_factor": [1.0, 2.0, 2.0], "mode": "nearest"})
case("interpolate", "trilinear_222", one(interp), lambda: [N(2, 2, 2, 3, 2)],
     {"scale_factor": [2.0, 2.0, 2.0], "mode": "trilinear", "align_corners": False})
case("interpolate", "trilinear_122", one(interp), lambda: [N(2, 2, 2, 3, 2)],
     {"scale_factor": [1.0, 2.0, 2.0], "mode": "trilinear", "align_corners": False})


def pad(x, **kw):
    return F.pad(x, mode="constant", **kw)


case("pad", "110210_v0", one(pad), lambda: [N(2, 2, 3, 4, 3)], {"pad": [1, 1, 0, 2, 1, 0], "value": 0.0})
case("pad", "110210_v0.5", one(pad), lambda: [N(2, 2, 3, 4, 3)], {"pad": [1, 1, 0, 2, 1, 0], "value": 0.5})
case("pad", "last2_v0", one(pad), lambda: [N(2, 2, 3, 4, 3)], {"pad": [2, 1], "value": 0.0})


# --- normalisation
def gn(x, w, b, **kw):
    return F.group_norm(x, weight=w, bias=b, **kw)


def ln(x, w, b, **kw):
    return F.layer_norm(x, weight=w, bias=b, **kw)


def affine(c):
    return [1.0 + N(c, scale=0.3), N(c, scale=0.3)]


case("group_norm", "c4_g2", one(gn), lambda: [N(2, 4, 3, 4, 3, scale=2.0) + 0.5, *affine(4)],
     {"num_groups": 2, "eps": 1e-5})
case("group_norm", "c6_g3_eps1e-6", one(gn), lambda: [N(2, 6, 2, 3, 4, scale=2.0) - 0.3, *affine(6)],
     {"num_groups": 3, "eps": 1e-6})
case("group_norm", "c4_g1", one(gn), lambda: [N(2, 4, 2, 3, 3), *affine(4)], {"num_groups": 1, "eps": 1e-5})
case("group_norm", "c4_g4", one(gn), lambda: [N(2, 4, 2, 3, 3), *affine(4)], {"num_groups": 4, "eps": 1e-5})
case("layer_norm", "last8", one(ln), lambda: [N(2, 3, 8, scale=2.0) + 0.5, 1.0 + N(8, scale=0.3), N(8, scale=0.3)],
     {"normalized_shape": [8], "eps": 1e-5})
case("layer_norm", "last45_eps1e-6", one(ln),
     lambda: [N(2, 3, 4, 5), 1.0 + N(4, 5, scale=0.3), N(4, 5, scale=0.3)],
     {"normalized_shape": [4, 5], "eps": 1e-6})


def bn(x, rm, rv, w=None, b=None, **kw):
    # F.batch_norm updates rm, rv in place in training: copies, so that in1, in2 keep the values
    # the case was called with (the running-stat update is checked by tests/unit/test_batch_norm.cpp).
    return F.batch_norm(x, rm.detach().clone(), rv.detach().clone(), weight=w, bias=b, **kw)


def running(c):
    return [N(c, scale=0.3), U(0.5, 1.5, c)]


case("batch_norm", "train_3d", one(bn), lambda: [N(2, 3, 3, 4, 3, scale=2.0) + 0.5, *running(3), *affine(3)],
     {"training": True, "momentum": 0.1, "eps": 1e-5}, diff=[0, 3, 4])
case("batch_norm", "train_2d_eps1e-3", one(bn), lambda: [N(4, 3, 5, 4) - 0.3, *running(3), *affine(3)],
     {"training": True, "momentum": 0.3, "eps": 1e-3}, diff=[0, 3, 4])
case("batch_norm", "train_nc_plain", one(bn), lambda: [N(6, 4), *running(4)],
     {"training": True, "momentum": 0.1, "eps": 1e-5}, diff=[0])
case("batch_norm", "eval_3d", one(bn), lambda: [N(2, 3, 3, 4, 3), *running(3), *affine(3)],
     {"training": False, "momentum": 0.1, "eps": 1e-5}, diff=[0, 3, 4])
case("batch_norm", "eval_2d_plain", one(bn), lambda: [N(2, 4, 3, 5), *running(4)],
     {"training": False, "momentum": 0.1, "eps": 1e-5}, diff=[0])


# --- shape
def cat(*xs, **kw):
    return torch.cat(list(xs), **kw)


case("cat", "dim0_2in", one(cat), lambda: [N(2, 3, 4), N(1, 3, 4)], {"dim": 0})
case("cat", "dim1_3in", one(cat), lambda: [N(2, 3, 4), N(2, 1, 4), N(2, 2, 4)], {"dim": 1})
case("cat", "dimm1_2in", one(cat), lambda: [N(2, 3, 4), N(2, 3, 2)], {"dim": -1})
case("cat", "dim1_5d_2in", one(cat), lambda: [N(2, 2, 2, 3, 2), N(2, 3, 2, 3, 2)], {"dim": 1})
case("permute", "021", one(torch.permute), lambda: [N(2, 3, 4)], {"dims": [0, 2, 1]})
case("permute", "5d", one(torch.permute), lambda: [N(2, 3, 2, 4, 3)], {"dims": [0, 2, 3, 4, 1]})
case("reshape", "flat", one(torch.reshape), lambda: [N(2, 3, 4)], {"shape": [6, 4]})
case("reshape", "m1", one(torch.reshape), lambda: [N(2, 3, 4)], {"shape": [2, -1, 3]})
case("transpose", "01", one(torch.transpose), lambda: [N(2, 3, 4)], {"dim0": 0, "dim1": 1})
case("transpose", "1m1", one(torch.transpose), lambda: [N(2, 3, 4, 5)], {"dim0": 1, "dim1": -1})


# --- attention (PyTorch 1.13 has no F.scaled_dot_product_attention: composed from matmul and softmax)
def sdpa(q, k, v, scale=None):
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * scale, dim=-1), v)


case("scaled_dot_product_attention", "default_scale", one(sdpa),
     lambda: [N(2, 2, 5, 4), N(2, 2, 5, 4), N(2, 2, 5, 4)])
case("scaled_dot_product_attention", "lq_ne_lk", one(sdpa),
     lambda: [N(2, 2, 3, 4), N(2, 2, 6, 4), N(2, 2, 6, 3)])
case("scaled_dot_product_attention", "scale0.3", one(sdpa),
     lambda: [N(1, 3, 4, 8), N(1, 3, 5, 8), N(1, 3, 5, 8)], {"scale": 0.3})

# --- losses
for red in ["mean", "sum", "none"]:
    case("mse_loss", red, one(F.mse_loss), lambda: [N(2, 3, 4), N(2, 3, 4)], {"reduction": red})

    def l1_inputs():
        x = N(2, 3, 4)
        return [x, x + away(2, 3, 4, lo=0.1, hi=1.5)]

    case("l1_loss", red, one(F.l1_loss), l1_inputs, {"reduction": red})
    case("binary_cross_entropy_with_logits", red, one(F.binary_cross_entropy_with_logits),
         lambda: [N(2, 3, 4, scale=2.0), U(0.0, 1.0, 2, 3, 4)], {"reduction": red})
case("binary_cross_entropy_with_logits", "hard_targets_mean", one(F.binary_cross_entropy_with_logits),
     lambda: [N(2, 3, 4, scale=2.0), (torch.rand(2, 3, 4, dtype=D64) < 0.5).to(D64)], {"reduction": "mean"})


# ----------------------------------------------------------------------------------------------------------
# running a case

def seed_of(base_name):
    return zlib.crc32(base_name.encode("utf-8")) & 0x7FFFFFFF


def run_case(c, dtype):
    base = "%s_%s" % (c["op"], c["variant"])
    tag = _DT[dtype][0].lower()
    name = "%s_%s" % (base, tag)
    seed = seed_of(base)  # the same data (up to rounding) in F32 and F64
    torch.manual_seed(seed)
    raw = c["make_inputs"]()
    diff = c["diff"] if c["diff"] is not None else list(range(len(raw)))
    xs = []
    for i, r in enumerate(raw):
        x = r.to(dtype).contiguous()
        if i in diff:
            x.requires_grad_(True)
        xs.append(x)
    out = c["fn"](xs, **c["kwargs"])
    assert out.dtype == dtype, (name, out.dtype)
    gout = torch.randn(tuple(out.shape), dtype=D64).to(dtype)
    dxs = [xs[i] for i in diff]
    grads = torch.autograd.grad(out, dxs, gout, allow_unused=True)

    tensors = [("in%d" % i, x) for i, x in enumerate(xs)]
    tensors += [("out", out), ("gout", gout)]
    for i, g in zip(diff, grads):
        if g is None:  # input does not influence the output: gradient is zero
            g = torch.zeros_like(xs[i])
        tensors.append(("gin%d" % i, g))
    for n, t in tensors:
        assert t.dtype == dtype and torch.isfinite(t).all(), (name, n)

    meta = {"op": c["op"]}
    for k, v in c["kwargs"].items():
        meta[k] = json.dumps(v)
    meta["name"] = name
    meta["seed"] = str(seed)
    return name, tensors, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the *.safetensors cases")
    ap.add_argument("--only", default=None, help="generate only cases whose op equals this name")
    ap.add_argument("--keep-stale", action="store_true",
                    help="do not delete *.safetensors files in --out that this script does not write")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    written = set()
    total = 0
    ops = []
    for c in CASES:
        if args.only and c["op"] != args.only:
            continue
        for dtype in (torch.float32, torch.float64):
            name, tensors, meta = run_case(c, dtype)
            fname = name + ".safetensors"
            assert fname not in written, "duplicate case " + fname
            path = os.path.join(args.out, fname)
            write_safetensors(path, tensors, meta)
            # read back and check the round trip
            back, bmeta = read_safetensors(path)
            assert bmeta == meta and list(back) == [n for n, _ in tensors], name
            for n, t in tensors:
                assert torch.equal(back[n], t.detach()), (name, n)
            written.add(fname)
            total += os.path.getsize(path)
        if c["op"] not in ops:
            ops.append(c["op"])

    if not args.keep_stale and not args.only:
        # module_* cases belong to generate_module_cases.py, network_* cases to generate_network_cases.py:
        # never remove them here.
        for f in sorted(os.listdir(args.out)):
            if f.endswith(".safetensors") and f not in written and not f.startswith(("module_", "network_")):
                os.remove(os.path.join(args.out, f))
                print("removed stale case", f)

    print("%d cases, %d ops, %.1f KiB in %s" % (len(written), len(ops), total / 1024.0, args.out))
    print("ops:", " ".join(ops))


if __name__ == "__main__":
    main()
