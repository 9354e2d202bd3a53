#!/usr/bin/python3
"""Times one training step of each LDAE network in PyTorch (CPU) and, given the JSON output of
ldae_bench, prints the side-by-side table of docs/benchmarks.md ("Whole networks").

The step is the one of ldae_bench's network_forward_backward/<net>/<preset> (tests/bench/bench_networks.cpp):
the network in train mode, a random input of the preset's example shapes drawn (batch 1, float32;
inside the timed step on both sides), one forward pass, then the backward of sum(output), which
fills every parameter's gradient.
The ShiftUNet's output is eps + shift; the autoencoder's is decode(z_mu). The PyTorch networks are the
twins of tests/reference/ldae_torch_nets.py (checked against our networks by the reference cases),
built from the arguments `ldae model NET --preset P --arguments` prints, so both sides run the same
configuration.

Run it with Debian's Python, which has torch 1.13 (the `python3` first on PATH may not), on an otherwise
idle machine, with the same thread count on both sides:

    OMP_NUM_THREADS=2 build/tests/ldae_bench --benchmark_filter='^network_forward_backward/.*/course' \\
        --benchmark_repetitions=3 --benchmark_format=json --benchmark_out=networks.json
    OMP_NUM_THREADS=2 /usr/bin/python3 tests/bench/pytorch_bench_networks.py --ldae build/bin/ldae \\
        --ours networks.json --preset course
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import ldae_torch_nets as nets  # noqa: E402  (the twins)
from pytorch_bench import median_seconds  # noqa: E402  (the op benchmarks' timing loop, same folder)

NETWORKS = ["autoencoder_kl", "patch_discriminator", "unet", "shift_unet", "convnext", "attention_semantic_encoder"]


def build(net, args):
    """The PyTorch twin of `net` built from the published constructor arguments."""
    args = dict(args)
    if net == "autoencoder_kl":
        args.pop("method", None)
        return nets.AutoencoderKL(**args)
    if net == "patch_discriminator":
        return nets.PatchDiscriminator(**args)
    if net == "unet":
        return nets.UNet(**args)
    if net == "shift_unet":
        return nets.ShiftUNet(**args)
    if net == "convnext":
        return nets.ConvNeXt(**args)
    if net == "attention_semantic_encoder":
        return nets.AttentionSemanticEncoder(**args)
    raise ValueError(f"unknown network {net}")


def step_function(net, model, inputs, gen):
    """A function running one training step: draw a random input (as ldae_bench's step does, through
    the zoo's example forward pass), forward, backward of sum(output)."""
    shapes = inputs

    def step():
        for p in model.parameters():
            p.grad = None
        if net in ("unet", "shift_unet"):
            x_t = torch.randn(shapes["x_t"], generator=gen)
            t = torch.floor(torch.rand(shapes["t"], generator=gen) * 1000)
            y = torch.randn(shapes["y_sem"], generator=gen) if net == "shift_unet" else None
        else:
            x = torch.rand(shapes["x"], generator=gen)
        if net == "autoencoder_kl":
            out = model.reconstruct(x)
        elif net == "unet":
            out = model(x_t, t)
        elif net == "shift_unet":
            eps, shift = model(x_t, t, y)
            out = eps + shift
        else:
            out = model(x)
        out.backward(torch.ones_like(out))

    return step


def our_results(path, preset):
    """{net: (median seconds, peak tensor MiB, forward GMAC)} from ldae_bench's JSON output."""
    to_seconds = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    with open(path) as f:
        data = json.load(f)
    runs, counters = {}, {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        parts = name.split("/")
        if len(parts) != 3 or parts[0] != "network_forward_backward" or parts[2] != preset:
            continue
        if b.get("run_type") == "aggregate":
            continue
        runs.setdefault(parts[1], []).append(b["real_time"] * to_seconds[b.get("time_unit", "ns")])
        counters[parts[1]] = (b.get("peak_tensor_MiB", float("nan")), b.get("forward_GMAC", float("nan")))
    return {net: (statistics.median(t),) + counters[net] for net, t in runs.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ldae", required=True, help="the ldae program (for `ldae model NET --arguments`)")
    ap.add_argument("--ours", help="ldae_bench JSON output (network_forward_backward/...)")
    ap.add_argument("--preset", default="course", choices=["tiny", "course", "paper"])
    ap.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated subset")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()

    threads = int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = our_results(a.ours, a.preset) if a.ours else {}
    rows = []
    for net in a.networks.split(","):
        text = subprocess.run([a.ldae, "model", net, "--preset", a.preset, "--arguments"], check=True,
                              capture_output=True, text=True).stdout
        spec = json.loads(text)
        model = build(net, spec["arguments"]).float().train()  # float32 everywhere (buffers too)
        gen = torch.Generator().manual_seed(1)
        seconds = median_seconds(step_function(net, model, spec["inputs"], gen), a.warmup, a.repeats)
        rows.append((net, seconds))
        print(f"{net}: PyTorch {seconds * 1e3:.1f} ms", file=sys.stderr)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"PyTorch {torch.__version__}, {threads} threads, {cpu}, {datetime.date.today()}, preset {a.preset}, "
          f"float32, batch 1, one training step (train mode, forward + backward of sum(output)), medians")
    print()
    print("| network | ours ms | PyTorch ms | PyTorch / ours | ours peak tensor memory MiB | forward GMAC |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for net, torch_s in rows:
        if net in ours:
            s, mib, gmac = ours[net]
            print(f"| {net} | {s * 1e3:.1f} | {torch_s * 1e3:.1f} | {torch_s / s:.2f}x | {mib:.1f} | {gmac:.2f} |")
        else:
            print(f"| {net} | - | {torch_s * 1e3:.1f} | - | - | - |")


if __name__ == "__main__":
    main()
