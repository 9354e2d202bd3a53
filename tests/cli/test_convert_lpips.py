#!/usr/bin/python3
"""End-to-end test of tools/convert_lpips.py on files this test writes itself, in the published layouts, with
random weights: a torchvision squeezenet1_1 state dict (features.*, classifier.*) and an lpips-style squeeze.pth
(lin<k>.model.1.weight, plus the lins.<k> copies a saved LPIPS module holds).

Checks: the converted keys and shapes are exactly the PyTorch twin's (tests/reference/lpips_torch.py); the twin
loads them strictly; our LPIPS module loads them strictly too and gives the twin's output and input gradients
(a `module:lpips` case run by reference_check, float64, the twin's weights copied module by module from the
torchvision network, independently of the converter's key mapping); bad inputs give exit 1 and a clear message.

    /usr/bin/python3 tests/cli/test_convert_lpips.py /path/to/reference_check

Exit status 77 (CTest: skipped) when torch or torchvision is missing; 1 on any failure.
"""

import os
import subprocess
import sys
import tempfile

try:
    import torch
    import torchvision
except ImportError as e:
    print("SKIP: %s (the converter test needs PyTorch and torchvision, e.g. Debian's python3-torch)" % e)
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from convert_checkpoint import read_safetensors, write_safetensors  # noqa: E402
from lpips_torch import SLICE_BOUNDS, TAP_CHANNELS, LpipsSqueeze  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "convert_lpips.py")
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run_tool(*args):
    p = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    if len(sys.argv) != 2:
        print("usage: test_convert_lpips.py REFERENCE_CHECK", file=sys.stderr)
        return 2
    reference_check = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        sq = torchvision.models.squeezenet1_1(weights=None)
        sq_path = os.path.join(tmp, "squeezenet1_1.pth")
        torch.save(sq.state_dict(), sq_path)
        lins = {"lin%d.model.1.weight" % k: torch.rand(1, c, 1, 1) * 0.2 for k, c in enumerate(TAP_CHANNELS)}
        lin_file = dict(lins)
        lin_file.update({"lins.%d.model.1.weight" % k: lins["lin%d.model.1.weight" % k].clone() for k in range(7)})
        lin_path = os.path.join(tmp, "squeeze.pth")
        torch.save(lin_file, lin_path)

        rc, out = run_tool("--help")
        expect(rc == 0 and "SQUEEZENET" in out, "--help exits 0 and describes the inputs")

        conv_path = os.path.join(tmp, "lpips.safetensors")
        rc, out = run_tool(sq_path, lin_path, conv_path)
        expect(rc == 0, "conversion succeeds: " + out.strip())
        if rc != 0:
            return 1
        conv, meta = read_safetensors(conv_path)
        twin = LpipsSqueeze()
        want = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in conv.items()}
        expect(want == got, "converted keys and shapes are the twin's (%d keys)" % len(want))
        expect(all(v.dtype == torch.float32 for v in conv.values()), "F32 by default")
        twin.load_state_dict(conv, strict=True)

        # The reference: the twin with the torchvision modules' weights copied by position.
        ref = LpipsSqueeze()
        for k, (lo, hi) in enumerate(SLICE_BOUNDS):
            s = getattr(ref.net, "slice%d" % (k + 1))
            for i in range(lo, hi):
                if list(sq.features[i].parameters()):  # convs and Fire blocks; ReLU and MaxPool have none
                    s[i - lo].load_state_dict(sq.features[i].state_dict())
        for k in range(7):
            getattr(ref, "lin%d" % k).model[1].weight.data.copy_(lins["lin%d.model.1.weight" % k])
        ref = ref.double().eval()
        twin = twin.double().eval()
        x = torch.rand(2, 1, 21, 23, dtype=torch.float64, requires_grad=True)
        y = (x.detach() + 0.1 * torch.randn(2, 1, 21, 23, dtype=torch.float64))
        out_ref = ref(x, y)
        expect(torch.equal(out_ref, twin(x, y)), "the twin loaded from the converted file equals the reference")
        (gx,) = torch.autograd.grad(out_ref.sum(), [x])

        case = [("in0", x.detach()), ("in1", y), ("out", out_ref.detach()), ("gout", torch.ones(2, dtype=torch.float64)),
                ("gin0", gx)]
        tensors = {k: v for k, v in case}
        tensors.update({"param." + k: v.double() for k, v in conv.items()})
        case_path = os.path.join(tmp, "module_lpips_converted.safetensors")
        write_safetensors(case_path, tensors, {"op": "module:lpips", "name": "converted_lpips"})
        p = subprocess.run([reference_check, case_path], capture_output=True, text=True)
        print(p.stdout.strip())
        expect(p.returncode == 0 and "PASS" in p.stdout,
               "our LPIPS loads the converted file strictly and matches the twin (reference_check)")

        rc, out = run_tool(sq_path, lin_path, os.path.join(tmp, "lpips64.safetensors"), "--dtype", "float64")
        conv64, _ = read_safetensors(os.path.join(tmp, "lpips64.safetensors"))
        expect(rc == 0 and all(v.dtype == torch.float64 for v in conv64.values()), "--dtype float64")

        # Bad inputs.
        rc, out = run_tool(lin_path, sq_path, os.path.join(tmp, "x.safetensors"))
        expect(rc == 1 and "not torchvision SqueezeNet 1.1" in out and "features.0.weight" in out,
               "swapped arguments are refused naming the missing keys: " + out.strip()[:160])
        rc, out = run_tool(os.path.join(tmp, "nope.pth"), lin_path, os.path.join(tmp, "x.safetensors"))
        expect(rc == 1 and "no such file" in out, "a missing file is refused")
        neg = dict(lins)
        neg["lin3.model.1.weight"] = -neg["lin3.model.1.weight"]
        torch.save(neg, os.path.join(tmp, "neg.pth"))
        rc, out = run_tool(sq_path, os.path.join(tmp, "neg.pth"), os.path.join(tmp, "x.safetensors"))
        expect(rc == 1 and "lin3.model.1.weight has negative entries" in out, "negative lin weights are refused")
        bad = dict(lin_file)
        bad["lins.2.model.1.weight"] = bad["lins.2.model.1.weight"] + 1.0
        torch.save(bad, os.path.join(tmp, "bad.pth"))
        rc, out = run_tool(sq_path, os.path.join(tmp, "bad.pth"), os.path.join(tmp, "x.safetensors"))
        expect(rc == 1 and "lins.2.model.1.weight differs" in out, "disagreeing lins copies are refused")
        sd = sq.state_dict()
        sd["features.9.expand3x3.weight"] = sd["features.9.expand3x3.weight"][:, :, :2, :2]
        torch.save(sd, os.path.join(tmp, "shape.pth"))
        rc, out = run_tool(os.path.join(tmp, "shape.pth"), lin_path, os.path.join(tmp, "x.safetensors"))
        expect(rc == 1 and "features.9.expand3x3.weight" in out and "wrong shapes" in out, "a wrong shape is refused")
        expect(not os.path.exists(os.path.join(tmp, "x.safetensors")), "nothing is written on failure")
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
