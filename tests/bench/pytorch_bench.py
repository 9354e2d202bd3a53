#!/usr/bin/python3
"""Times conv3d in PyTorch (CPU) on the shapes of ldae_bench (the benches of the op table,
tests/common/op_table.cpp, and bench_conv.cpp) and, given the JSON
output of ldae_bench, prints the side-by-side ratio table that docs/benchmarks.md shows.

Run it with Debian's Python, which has torch 1.13 (the `python3` first on PATH may not):

    OMP_NUM_THREADS=2 build/tests/ldae_bench \
        --benchmark_filter='^(conv3d_|matmul|softmax|group_norm|conv2d_depthwise7|interp_trilinear|silu|gelu_erf|permute_to)' \
        --benchmark_repetitions=5 --benchmark_format=json --benchmark_out=conv.json
    OMP_NUM_THREADS=2 /usr/bin/python3 tests/bench/pytorch_bench.py --ours conv.json

Both sides use OMP_NUM_THREADS threads (torch.set_num_threads). Times are medians of --repeats
timed runs after --warmup untimed runs. forward: y = conv3d(x, w, b, padding=1) without autograd.
forward_backward: the same with requires_grad on x, w and b, then y.backward(gy) (gradients of the
input, the weight and the bias), as ldae_bench's conv3d_forward_backward. Two extra rows time
stride-2 convs: 3x3x3 (ldae_bench's conv3d_stride2_forward_backward, our general im2col + GEMM
path) and 4x4x4 (conv3d_k4_stride2_forward_backward, our polyphase path).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

# (N, Cin, D, H, W, Cout); kernel 3, padding 1, stride 1. Keep in sync with the conv3d_pad1
# benches of tests/common/op_table.cpp and with bench_conv.cpp.
SHAPES = [
    (1, 32, 32, 40, 32, 32),
    (1, 64, 16, 20, 16, 64),
    (1, 1, 64, 80, 64, 32),
]
# The table's rows: (benchmark name, shape, stride, with backward, kernel); padding 1.
CASES = [(bench, s, 1, bench.endswith("backward"), 3)
         for s in SHAPES for bench in ("conv3d_forward", "conv3d_forward_backward")]
CASES.append(("conv3d_stride2_forward_backward", (1, 64, 32, 40, 32, 64), 2, True, 3))
# The PatchDiscriminator's 4x4x4 stride-2 conv (our polyphase path) at the same shape.
CASES.append(("conv3d_k4_stride2_forward_backward", (1, 64, 32, 40, 32, 64), 2, True, 4))
# The other ops of ldae_bench (the benches of tests/common/op_table.cpp): name -> (FLOPs or
# None, builder of the timed PyTorch call). Keep in sync with the table.
OTHER_OPS = ["matmul_forward/1024x1024x1024", "softmax_forward/4096x1024",
             "group_norm_forward/1x64x32x40x32/g32", "group_norm_forward_backward/1x64x32x40x32/g32",
             "conv2d_depthwise7_forward_backward/64x32x16x20",
             "interp_trilinear_x2_forward/1x64x16x20x16",
             "interp_trilinear_x2_forward_backward/1x64x16x20x16",
             "silu_forward/1x16x64x80x64", "silu_forward_backward/1x16x64x80x64",
             "gelu_erf_forward/64x16x20x128", "gelu_erf_forward_backward/64x16x20x128",
             "permute_to_channels_last_forward/64x32x16x20",
             "permute_to_channels_first_forward/64x16x20x32"]
GEMM_PEAK_GFLOPS = 300.0  # Eigen SGEMM at 2 threads on the project's 2-core AVX-512 machine


def shape_name(s):
    n, c, d, h, w, co = s
    return f"{n}x{c}x{d}x{h}x{w}/{co}"


def flops(s, backward, stride=1, kernel=3):
    n, c, d, h, w, co = s
    out = [(e + 2 - kernel) // stride + 1 for e in (d, h, w)]
    return 2.0 * n * co * c * kernel ** 3 * out[0] * out[1] * out[2] * (3.0 if backward else 1.0)


def median_seconds(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_times(warmup, repeats):
    """{(benchmark, shape name): median seconds} for PyTorch."""
    out = {}
    gen = torch.Generator().manual_seed(0)
    for bench, s, stride, backward, k in CASES:
        n, c, d, h, w, co = s
        x = torch.randn(n, c, d, h, w, generator=gen)
        wt = torch.randn(co, c, k, k, k, generator=gen) * 0.1
        b = torch.randn(co, generator=gen)
        gy = torch.randn(F.conv3d(x, wt, b, stride=stride, padding=1).shape, generator=gen)

        def forward():
            with torch.no_grad():
                F.conv3d(x, wt, b, stride=stride, padding=1)

        xr, wr, br = (t.clone().requires_grad_() for t in (x, wt, b))

        def forward_backward():
            xr.grad = wr.grad = br.grad = None
            F.conv3d(xr, wr, br, stride=stride, padding=1).backward(gy)

        fn = forward_backward if backward else forward
        out[(bench, shape_name(s))] = median_seconds(fn, warmup, repeats)
    return out


def torch_other_times(warmup, repeats):
    """{benchmark name: median seconds} for the non-convolution ops."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1024, 1024, generator=gen), torch.randn(1024, 1024, generator=gen)
    s = torch.randn(4096, 1024, generator=gen)
    x = torch.randn(1, 64, 32, 40, 32, generator=gen)
    w, bias = torch.randn(64, generator=gen), torch.randn(64, generator=gen)
    gy = torch.randn(x.shape, generator=gen)
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, bias))

    def group_norm_fb():
        xr.grad = wr.grad = br.grad = None
        F.group_norm(xr, 32, wr, br, 1e-5).backward(gy)

    # ConvNeXt's depthwise 7x7 conv2d at the course preset's first stage.
    xd = torch.rand(64, 32, 16, 20, generator=gen).mul_(2).sub_(1).requires_grad_()
    wd = torch.rand(32, 1, 7, 7, generator=gen).mul_(2).sub_(1).requires_grad_()
    bd = torch.rand(32, generator=gen).mul_(2).sub_(1).requires_grad_()
    gyd = torch.randn(64, 32, 16, 20, generator=gen)

    def depthwise_fb():
        xd.grad = wd.grad = bd.grad = None
        F.conv2d(xd, wd, bd, padding=3, groups=32).backward(gyd)

    # Trilinear 2x upsampling (align_corners=False, as ours).
    xt = torch.rand(1, 64, 16, 20, 16, generator=gen).mul_(2).sub_(1)
    xtr = xt.clone().requires_grad_()
    gyt = torch.randn(1, 64, 32, 40, 32, generator=gen)

    def trilinear_fb():
        xtr.grad = None
        F.interpolate(xtr, scale_factor=2, mode="trilinear", align_corners=False).backward(gyt)

    # The activations (ours: tensor/cpu/vector_math.h): the course autoencoder's first-level
    # SiLU and ConvNeXt's first-stage GELU (erf form), inputs uniform in [-4, 4] and [-3, 3].
    xs = torch.rand(1, 16, 64, 80, 64, generator=gen).mul_(8).sub_(4)
    xg = torch.rand(64, 16, 20, 128, generator=gen).mul_(6).sub_(3)
    xsr, xgr = xs.clone().requires_grad_(), xg.clone().requires_grad_()
    gys, gyg = torch.randn(xs.shape, generator=gen), torch.randn(xg.shape, generator=gen)

    def silu_fb():
        xsr.grad = None
        F.silu(xsr).backward(gys)

    def gelu_fb():
        xgr.grad = None
        F.gelu(xgr).backward(gyg)

    # ConvNeXt's block permutes at the course preset's first stage, copied to contiguous.
    xn = torch.randn(64, 32, 16, 20, generator=gen)
    xl = torch.randn(64, 16, 20, 32, generator=gen)

    with torch.no_grad():
        calls = {
            OTHER_OPS[11]: lambda: xn.permute(0, 2, 3, 1).contiguous(),
            OTHER_OPS[12]: lambda: xl.permute(0, 3, 1, 2).contiguous(),
            OTHER_OPS[7]: lambda: F.silu(xs),
            OTHER_OPS[9]: lambda: F.gelu(xg),
            OTHER_OPS[0]: lambda: torch.matmul(a, b),
            OTHER_OPS[1]: lambda: torch.softmax(s, -1),
            OTHER_OPS[2]: lambda: F.group_norm(x, 32, w, bias, 1e-5),
            OTHER_OPS[5]: lambda: F.interpolate(xt, scale_factor=2, mode="trilinear",
                                                align_corners=False),
        }
        out = {name: median_seconds(fn, warmup, repeats) for name, fn in calls.items()}
    out[OTHER_OPS[3]] = median_seconds(group_norm_fb, warmup, repeats)
    out[OTHER_OPS[4]] = median_seconds(depthwise_fb, warmup, repeats)
    out[OTHER_OPS[6]] = median_seconds(trilinear_fb, warmup, repeats)
    out[OTHER_OPS[8]] = median_seconds(silu_fb, warmup, repeats)
    out[OTHER_OPS[10]] = median_seconds(gelu_fb, warmup, repeats)
    return out


def our_times(path):
    """{(benchmark, shape name): median seconds (wall clock)} from ldae_bench's JSON output."""
    to_seconds = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    with open(path) as f:
        data = json.load(f)
    runs, medians = {}, {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        if not (name.startswith("conv3d_") or name in OTHER_OPS):
            continue
        seconds = b["real_time"] * to_seconds[b.get("time_unit", "ns")]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = seconds
        else:
            runs.setdefault(name, []).append(seconds)
    result = {}
    for name in set(runs) | set(medians):
        bench, rest = name.split("/", 1)
        result[(bench, rest)] = medians.get(name, statistics.median(runs.get(name, [0.0])))
    return result


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours", help="JSON written by ldae_bench --benchmark_format=json "
                        "--benchmark_out=FILE; without it only PyTorch's times are printed")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()

    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; threads: {threads}; "
          f"torch {torch.__version__} (mkldnn {torch.backends.mkldnn.is_available()}); "
          f"date: {datetime.date.today().isoformat()}")
    theirs = torch_times(args.warmup, args.repeats)
    ours = our_times(args.ours) if args.ours else {}

    print()
    print("| benchmark | shape NxCinxDxHxW/Cout | ours ms | torch ms | speed-up | "
          "ours GFLOP/s | torch GFLOP/s | ours / 300 GFLOP/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    slower = []
    for bench, s, stride, backward, k in CASES:
        key = (bench, shape_name(s))
        f = flops(s, backward, stride, k)
        t_torch = theirs[key]
        t_ours = ours.get(key)
        if t_ours:
            speedup = t_torch / t_ours
            if speedup < 1.0:
                slower.append(key)
            print(f"| {bench} | {key[1]} | {t_ours * 1e3:.2f} | {t_torch * 1e3:.2f} | "
                  f"{speedup:.2f}x | {f / t_ours * 1e-9:.0f} | {f / t_torch * 1e-9:.0f} | "
                  f"{f / t_ours * 1e-9 / GEMM_PEAK_GFLOPS:.0%} |")
        else:
            print(f"| {bench} | {key[1]} | - | {t_torch * 1e3:.2f} | - | - | "
                  f"{f / t_torch * 1e-9:.0f} | - |")
    if slower:
        print(f"\nslower than PyTorch: {', '.join('/'.join(k) for k in slower)}")

    # The other ops: matmul (GFLOP/s), softmax and group norm (memory-bound).
    theirs_other = torch_other_times(args.warmup, args.repeats)
    print()
    print("| benchmark | ours ms | torch ms | speed-up | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name in OTHER_OPS:
        bench, rest = name.split("/", 1)
        t_ours, t_torch = ours.get((bench, rest)), theirs_other[name]
        note = f"ours {2 * 1024 ** 3 / t_ours * 1e-9:.0f} GFLOP/s" if (t_ours and "matmul" in name) else ""
        if t_ours:
            print(f"| {name} | {t_ours * 1e3:.2f} | {t_torch * 1e3:.2f} | {t_torch / t_ours:.2f}x | {note} |")
        else:
            print(f"| {name} | - | {t_torch * 1e3:.2f} | - | |")

    # Our per-kernel breakdown, when ldae_bench also ran the backward kernels alone.
    kernels = ("conv3d_forward", "conv3d_backward_input", "conv3d_backward_weight")
    if any((k, shape_name(s)) in ours for k in kernels[1:] for s in SHAPES):
        print()
        print("| ours: kernel | shape NxCinxDxHxW/Cout | ms | GFLOP/s | / 300 GFLOP/s |")
        print("| --- | --- | ---: | ---: | ---: |")
        for s in SHAPES:
            for k in kernels:
                t = ours.get((k, shape_name(s)))
                if t:
                    g = flops(s, False) / t * 1e-9
                    print(f"| {k} | {shape_name(s)} | {t * 1e3:.2f} | {g:.0f} | "
                          f"{g / GEMM_PEAK_GFLOPS:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
