#!/usr/bin/python3
"""Runs ldae_bench's GPU benchmarks (names starting with cuda/) and times the same ops in
PyTorch with cuDNN on the same GPU, in the same run, then prints the ratio table that
docs/gpu-results.md records.

    python3 tests/bench/pytorch_bench_cuda.py --ldae-bench build/tests/ldae_bench

(or --ours FILE with the JSON of an earlier `ldae_bench --benchmark_filter='^cuda/'
--benchmark_format=json --benchmark_out=FILE`). Needs PyTorch with CUDA.

PyTorch is timed twice: with TF32 off (full FP32 products, as ldae computes by default)
and with PyTorch's defaults (cuDNN may use TF32 tensor cores for convolutions). Times are
medians of --repeats timed runs after --warmup untimed runs, each run ending with
torch.cuda.synchronize(); torch.backends.cudnn.benchmark is on (cuDNN picks its fastest
algorithm per shape during the warm-up). The issue's target (not a test): conv3d
forward+backward at the LDAE shapes within 3x of PyTorch with cuDNN.
"""
import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time

# (N, Cin, D, H, W, Cout); kernel 3, padding 1, stride 1. Keep in sync with the conv3d_pad1
# benches of tests/common/op_table.cpp (registered as cuda/... by bench_cuda.cpp).
SHAPES = [
    (1, 32, 32, 40, 32, 32),
    (1, 64, 16, 20, 16, 64),
    (1, 1, 64, 80, 64, 32),
]
TARGET_RATIO = 3.0  # ours / PyTorch time for conv3d forward+backward


def shape_name(s):
    n, c, d, h, w, co = s
    return f"{n}x{c}x{d}x{h}x{w}/{co}"


def conv_flops(s, backward):
    n, c, d, h, w, co = s
    return 2.0 * n * co * c * 27 * d * h * w * (3.0 if backward else 1.0)


def median_seconds(torch, fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_times(torch, tf32, warmup, repeats):
    """{benchmark name (as ldae_bench names it): median seconds} for PyTorch on cuda:0."""
    import torch.nn.functional as F

    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda:0")
    gen = torch.Generator(device=dev).manual_seed(0)
    out = {}
    for s in SHAPES:
        n, c, d, h, w, co = s
        x = torch.rand(n, c, d, h, w, device=dev, generator=gen) * 2 - 1
        wt = (torch.rand(co, c, 3, 3, 3, device=dev, generator=gen) * 2 - 1) * 0.1
        b = torch.rand(co, device=dev, generator=gen) * 2 - 1
        gy = torch.rand(n, co, d, h, w, device=dev, generator=gen) * 2 - 1

        def forward():
            with torch.no_grad():
                F.conv3d(x, wt, b, padding=1)

        xr, wr, br = (t.clone().requires_grad_() for t in (x, wt, b))

        def forward_backward():
            xr.grad = wr.grad = br.grad = None
            F.conv3d(xr, wr, br, padding=1).backward(gy)

        out["cuda/conv3d_forward/" + shape_name(s)] = median_seconds(torch, forward, warmup, repeats)
        out["cuda/conv3d_forward_backward/" + shape_name(s)] = median_seconds(
            torch, forward_backward, warmup, repeats)
    a = torch.randn(1024, 1024, device=dev, generator=gen)
    bm = torch.randn(1024, 1024, device=dev, generator=gen)
    out["cuda/matmul_forward/1024x1024x1024"] = median_seconds(torch, lambda: a @ bm, warmup, repeats)
    xs = torch.randn(4096, 1024, device=dev, generator=gen)
    out["cuda/softmax_forward/4096x1024"] = median_seconds(
        torch, lambda: torch.softmax(xs, -1), warmup, repeats)
    xg = torch.randn(1, 64, 32, 40, 32, device=dev, generator=gen)
    wg, bg = torch.randn(64, device=dev, generator=gen), torch.randn(64, device=dev, generator=gen)
    out["cuda/group_norm_forward/1x64x32x40x32/g32"] = median_seconds(
        torch, lambda: F.group_norm(xg, 32, wg, bg, 1e-5), warmup, repeats)
    return out


def run_ldae_bench(path, repetitions):
    """Runs ldae_bench's cuda/ benchmarks; returns the path of its JSON output."""
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    cmd = [path, "--benchmark_filter=^cuda/", f"--benchmark_repetitions={repetitions}",
           "--benchmark_format=json", f"--benchmark_out={out}"]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def our_times(path):
    """{benchmark name: median seconds (wall clock)} from ldae_bench's JSON; errors are None."""
    to_seconds = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    with open(path) as f:
        data = json.load(f)
    runs, medians, errors = {}, {}, {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        if not name.startswith("cuda/"):
            continue
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "error")
            continue
        seconds = b["real_time"] * to_seconds[b.get("time_unit", "ns")]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = seconds
        else:
            runs.setdefault(name, []).append(seconds)
    result = {name: medians.get(name, statistics.median(runs.get(name, [0.0])))
              for name in set(runs) | set(medians)}
    return result, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--ldae-bench", help="path of ldae_bench: run its cuda/ benchmarks now")
    group.add_argument("--ours", help="JSON of an earlier ldae_bench run of the cuda/ benchmarks")
    parser.add_argument("--repetitions", type=int, default=5, help="ldae_bench repetitions")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("pytorch_bench_cuda.py: PyTorch sees no CUDA device")
    ours_path = args.ours or run_ldae_bench(args.ldae_bench, args.repetitions)
    ours, errors = our_times(ours_path)
    for name, message in sorted(errors.items()):
        print(f"ldae_bench {name}: {message}", file=sys.stderr)
    strict = torch_times(torch, False, args.warmup, args.repeats)
    default = torch_times(torch, True, args.warmup, args.repeats)

    props = torch.cuda.get_device_properties(0)
    print(f"GPU: {props.name} ({props.total_memory / 2**30:.0f} GiB, compute capability "
          f"{props.major}.{props.minor}); torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version()}; date: {datetime.date.today().isoformat()}")
    print()
    print("| benchmark | ours ms | torch FP32 ms | ours / torch FP32 | torch default (TF32) ms | "
          "ours / torch default | ours GFLOP/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    misses = []
    for name in strict:
        t_ours = ours.get(name)
        gflops = ""
        if name.startswith("cuda/conv3d_") and t_ours:
            s = next(s for s in SHAPES if name.endswith(shape_name(s)))
            gflops = f"{conv_flops(s, 'backward' in name) / t_ours * 1e-9:.0f}"
        if t_ours:
            r_strict, r_default = t_ours / strict[name], t_ours / default[name]
            if name.startswith("cuda/conv3d_forward_backward/") and r_default > TARGET_RATIO:
                misses.append(name)
            print(f"| {name} | {t_ours * 1e3:.3f} | {strict[name] * 1e3:.3f} | {r_strict:.2f} | "
                  f"{default[name] * 1e3:.3f} | {r_default:.2f} | {gflops} |")
        else:
            print(f"| {name} | n/a | {strict[name] * 1e3:.3f} | | {default[name] * 1e3:.3f} | | |")
    print()
    if misses:
        print(f"target (conv3d forward+backward within {TARGET_RATIO:.0f}x of PyTorch's default): "
              f"missed for {', '.join(misses)}")
    else:
        print(f"target (conv3d forward+backward within {TARGET_RATIO:.0f}x of PyTorch's default): met")


if __name__ == "__main__":
    main()
