#!/usr/bin/python3
"""Checks the PyTorch twins of ldae_torch_nets.py against the published state-dict listings
(tests/reference/state_dicts/*.txt, a copy of ldae-state-dicts/): at the paper configuration, every twin must list
exactly the published keys, in the published order, with the same shapes, the same param/buffer kinds and the same
number of unique parameters. Exit status 1 on any mismatch (the first differences are printed).

The paper networks are built without memory: every tensor factory called without a device makes a meta tensor
and the initialisers do nothing, so building the 865M-parameter ShiftUNet takes a moment.

    /usr/bin/python3 tests/reference/check_torch_twins.py [--listings DIR] [NET ...]
"""

import argparse
import contextlib
import difflib
import os
import sys

try:
    import torch
    import torchvision  # noqa: F401  (the ConvNeXt twin)
except ImportError as e:
    print("SKIP: %s (the twins need PyTorch and torchvision, e.g. Debian's python3-torch)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ldae_torch_nets as nets  # noqa: E402


@contextlib.contextmanager
def meta_construction():
    """Tensor factories without a device make meta tensors; nn.init functions are no-ops."""
    saved = {}

    def on_meta(fn):
        def wrapped(*args, **kwargs):
            if kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return fn(*args, **kwargs)
        return wrapped

    for name in ("empty", "zeros", "ones", "tensor"):
        saved[(torch, name)] = getattr(torch, name)
        setattr(torch, name, on_meta(getattr(torch, name)))
    for name in dir(torch.nn.init):
        if name.endswith("_") and not name.startswith("_"):
            saved[(torch.nn.init, name)] = getattr(torch.nn.init, name)
            setattr(torch.nn.init, name, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for (mod, name), fn in saved.items():
            setattr(mod, name, fn)


def listing(module):
    """The published listing format: '<key> <d0xd1... | scalar> <param|buffer>', then total_parameters."""
    params = {id(p) for p in module.parameters()}
    lines = []
    for key, t in module.state_dict(keep_vars=True).items():
        shape = "x".join(str(s) for s in t.shape) if t.dim() else "scalar"
        lines.append("%s %s %s" % (key, shape, "param" if id(t) in params else "buffer"))
    total = sum(p.numel() for p in module.parameters())  # parameters() yields each tensor once
    lines.append("total_parameters %d" % total)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listings", default=os.path.join(HERE, "state_dicts"), help="folder of <net>.txt listings")
    ap.add_argument("nets", nargs="*", default=list(nets.PAPER), help="networks to check (default: all)")
    args = ap.parse_args()
    failed = 0
    for net in args.nets:
        build, kwargs = nets.PAPER[net]
        with meta_construction():
            module = build(**kwargs)
        got = listing(module)
        with open(os.path.join(args.listings, net + ".txt")) as f:
            want = [line.rstrip("\n") for line in f if line.strip()]
        if got == want:
            print("OK   %s: %d entries, %s" % (net, len(got) - 1, got[-1]))
            continue
        failed += 1
        print("FAIL %s: the twin's listing differs from %s.txt:" % (net, net))
        diff = list(difflib.unified_diff(want, got, "published", "twin", lineterm="", n=0))
        for line in diff[:40]:
            print("    " + line)
        if len(diff) > 40:
            print("    ... %d more diff lines" % (len(diff) - 40))
    print("%d of %d twins match their published listing" % (len(args.nets) - failed, len(args.nets)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
