#!/usr/bin/python3
"""Compare a folder of reference cases with the tensors a framework emitted for them.

    /usr/bin/python3 tests/reference/check_cases.py CASES EMIT

CASES: the reference cases (*.safetensors, as written by generate_cases.py); EMIT: the folder written by
`reference_check --emit EMIT`, one file per case with the same name, holding `out`/`out<k>`, `gin<k>` and, for
module and network cases, `gparam.<key>` (all compared).
Tolerance (reference-cases.md (project docs)): an element passes when |a - b| <= atol + rtol * |b|, with
atol = 1e-4 * max(1, max |b|), rtol = 1e-3 in F32 and atol = 1e-10, rtol = 1e-7 in F64 (b: reference).
Prints PASS / FAIL / SKIP (no emitted file) per case; exits 1 if any case fails.
Needs only the standard library and torch.
"""

import argparse
import os
import sys

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_cases import read_safetensors  # noqa: E402


def tolerance(ref):
    if ref.dtype == torch.float32:
        mx = ref.abs().max().item() if ref.numel() else 0.0
        return 1e-4 * max(1.0, mx), 1e-3
    return 1e-10, 1e-7


def compare(a, b):
    """Returns (ok, max abs error, max rel error); b is the reference."""
    atol, rtol = tolerance(b)
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    err = (a64 - b64).abs()
    if err.numel() == 0:
        return True, 0.0, 0.0
    ok = bool((err <= atol + rtol * b64.abs()).all()) and bool(torch.isfinite(a64).all())
    rel = err / b64.abs().clamp_min(1e-300)
    return ok, err.max().item(), rel.max().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases")
    ap.add_argument("emit")
    args = ap.parse_args()

    files = sorted(f for f in os.listdir(args.cases) if f.endswith(".safetensors"))
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for f in files:
        ref, meta = read_safetensors(os.path.join(args.cases, f))
        op = meta.get("op", "?")
        epath = os.path.join(args.emit, f)
        if not os.path.exists(epath):
            print("SKIP %s %s (nothing emitted)" % (f, op))
            counts["SKIP"] += 1
            continue
        got, _ = read_safetensors(epath)
        keys = [k for k in ref if k == "out" or (k.startswith("out") and k[3:].isdigit()) or k.startswith("gin")
                or k.startswith("gparam.")]
        status, notes = "PASS", []
        for k in keys:
            if k not in got:
                status = "FAIL"
                notes.append("%s missing" % k)
                continue
            if tuple(got[k].shape) != tuple(ref[k].shape):
                status = "FAIL"
                notes.append("%s shape %s != %s" % (k, list(got[k].shape), list(ref[k].shape)))
                continue
            if got[k].dtype != ref[k].dtype:
                notes.append("%s dtype %s" % (k, got[k].dtype))
            ok, ea, er = compare(got[k], ref[k])
            if not ok:
                status = "FAIL"
            notes.append("%s abs %.2e rel %.2e%s" % (k, ea, er, "" if ok else " !"))
        counts[status] += 1
        print("%s %s %s  %s" % (status, f, op, "; ".join(notes)))
    print("%d PASS, %d FAIL, %d SKIP" % (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
