#!/usr/bin/python3
"""End-to-end test of tools/convert_checkpoint.py: the PyTorch twins (tests/reference/ldae_torch_nets.py) write
checkpoints in the published layouts, the converter turns them into safetensors, and our networks load them
strictly and must give the twins' outputs.

The "load into our networks and compare" step is the reference runner: each converted file becomes a
`module:<net>` case (param.* = the converted tensors, out = the twin's output computed from the ORIGINAL
checkpoint, in float64), run by reference_check. A converter that picks the wrong copy (EMA or not), drops or
renames a key, or mis-sums the stem makes the case FAIL.

    /usr/bin/python3 tests/cli/test_convert_checkpoint.py /path/to/reference_check

Exit status 77 (CTest: skipped) when torch or torchvision is missing; 1 on any failure.
"""

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import types

try:
    import torch
    import torchvision  # noqa: F401  (the ConvNeXt twin)
except ImportError as e:
    print("SKIP: %s (the converter test needs PyTorch and torchvision, e.g. Debian's python3-torch)" % e)
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import convert_checkpoint as cc  # noqa: E402
import ldae_torch_nets as nets  # noqa: E402
from generate_network_cases import randomise  # noqa: E402

import json  # noqa: E402

D64 = torch.float64
CONVERTER = os.path.join(ROOT, "tools", "convert_checkpoint.py")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def convert(*args, expect_ok=True):
    """Runs the converter's main() in this process (torch is imported once); returns (returncode, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cc.main([str(a) for a in args])
    if expect_ok and code != 0:
        raise RuntimeError("converter failed: %s\n%s" % (" ".join(map(str, args)), err.getvalue()))
    return types.SimpleNamespace(returncode=code, stderr=err.getvalue())


def random_twin(build, kwargs, seed):
    torch.manual_seed(seed)
    m = build(**kwargs).to(D64)
    randomise(m)
    return m.eval()


def write_case(folder, name, net, kwargs, converted, inputs, outputs):
    """A module:<net> case: params from the converted file, the twin's outputs (float64, no gradients)."""
    tensors = [("in%d" % i, x.to(D64)) for i, x in enumerate(inputs)]
    tensors += [("param." + k, v.to(D64)) for k, v in sorted(converted.items())]
    if len(outputs) == 1:
        tensors.append(("out", outputs[0].detach()))
    else:
        tensors += [("out%d" % k, o.detach()) for k, o in enumerate(outputs)]
    meta = {"op": "module:" + net, "name": name}
    meta.update({k: json.dumps(v) for k, v in kwargs.items()})
    from generate_cases import write_safetensors
    write_safetensors(os.path.join(folder, name + ".safetensors"), tensors, meta)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    reference_check = sys.argv[1]
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="ldae_convert_")
    cases = os.path.join(tmp, "cases")
    os.makedirs(cases)
    expected = {}  # case name -> network (whose SKIP is tolerated when our runner lacks the network)
    try:
        r = subprocess.run([sys.executable, CONVERTER, "--help"], capture_output=True, text=True)
        check(r.returncode == 0 and "semantic_encoder" in r.stdout and "--no-ema" in r.stdout, "--help")

        # (a) the released autoencoder: a plain state dict (attention and non-local blocks on, so that the
        # unused proj_attn weights must come through too); and a stage-1 Lightning checkpoint ("model.").
        ae_kw = dict(spatial_dims=3, in_channels=1, out_channels=1, num_channels=[2, 4], latent_channels=3,
                     num_res_blocks=[1, 1], norm_num_groups=2, norm_eps=1e-6, attention_levels=[False, True],
                     with_encoder_nonlocal_attn=True, with_decoder_nonlocal_attn=True)
        ae = random_twin(nets.AutoencoderKL, ae_kw, 1)
        x = torch.rand(1, 1, 6, 4, 6, dtype=D64)
        torch.save(ae.state_dict(), os.path.join(tmp, "ae.pth"))
        convert("autoencoder", os.path.join(tmp, "ae.pth"), os.path.join(tmp, "ae.safetensors"), "--dtype", "keep")
        conv, meta = cc.read_safetensors(os.path.join(tmp, "ae.safetensors"))
        check(set(conv) == set(ae.state_dict()), "autoencoder: every key, nothing else")
        write_case(cases, "ae_reconstruct", "autoencoder_kl", dict(ae_kw, method="reconstruct"), conv, [x],
                   [ae.reconstruct(x)])
        expected["ae_reconstruct"] = "autoencoder_kl"
        torch.save({"state_dict": {"model." + k: v for k, v in ae.state_dict().items()}, "epoch": 3},
                   os.path.join(tmp, "ae_lightning.ckpt"))
        convert("autoencoder", os.path.join(tmp, "ae_lightning.ckpt"), os.path.join(tmp, "ae2.safetensors"))
        conv32, meta32 = cc.read_safetensors(os.path.join(tmp, "ae2.safetensors"))
        check(meta32.get("source_prefix") == "model." and all(v.dtype == torch.float32 for v in conv32.values()) and
              all(torch.equal(conv32[k], v.float()) for k, v in ae.state_dict().items()),
              "autoencoder from a Lightning checkpoint (model.), default float32")

        # (b) stage 2: a Lightning checkpoint with unet.* and ema_unet.* (different weights).
        unet_kw = dict(input_channel=3, base_channel=2, channel_multiplier=[1, 2], num_residual_blocks_of_a_block=1,
                       attention_resolutions=[2], num_heads=1, head_channel=-1, use_new_attention_order=False,
                       dropout=0.1, dims=3, num_groups=2)
        unet, ema_unet = random_twin(nets.UNet, unet_kw, 2), random_twin(nets.UNet, unet_kw, 3)
        sd = {"unet." + k: v for k, v in unet.state_dict().items()}
        sd.update({"ema_unet." + k: v for k, v in ema_unet.state_dict().items()})
        sd["loss_fn.dummy"] = torch.zeros(1)
        torch.save({"state_dict": sd, "global_step": 10, "epoch": 1}, os.path.join(tmp, "stage2.ckpt"))
        z, t = torch.randn(1, 3, 2, 4, 4, dtype=D64), torch.tensor([17.0], dtype=D64)
        for ema, model, tag in ((True, ema_unet, "ema"), (False, unet, "plain")):
            out = os.path.join(tmp, "unet_%s.safetensors" % tag)
            convert("unet", os.path.join(tmp, "stage2.ckpt"), out, "--dtype", "keep", *([] if ema else ["--no-ema"]))
            conv, _ = cc.read_safetensors(out)
            write_case(cases, "unet_" + tag, "unet", unet_kw, conv, [z, t], [model(z, t)])
            expected["unet_" + tag] = "unet"

        # (c) stage 3: encoder.*, ema_encoder.* (backbone stored twice), decoder.*, ema_decoder.* (ShiftUNet).
        shift_kw = dict(unet_kw, latent_dim=4)
        ase_kw = dict(emb_chans=4, num_heads=2, attn_dropout=0.1, seq_len=6, backbone_dims=[2, 4],
                      backbone_depths=[1, 1], layer_scale=1e-6, stochastic_depth_prob=0.4, grayscale=True)
        dec, ema_dec = random_twin(nets.ShiftUNet, shift_kw, 4), random_twin(nets.ShiftUNet, shift_kw, 5)
        enc, ema_enc = random_twin(nets.AttentionSemanticEncoder, ase_kw, 6), \
            random_twin(nets.AttentionSemanticEncoder, ase_kw, 7)

        def encoder_sd(m):  # the published layout: the backbone under two names
            s = dict(m.state_dict())
            s.update({cc.BACKBONE_COPY + k[len(cc.BACKBONE):]: v.clone()
                      for k, v in m.state_dict().items() if k.startswith(cc.BACKBONE)})
            return s

        sd = {}
        for prefix, s in (("encoder.", encoder_sd(enc)), ("ema_encoder.", encoder_sd(ema_enc)),
                          ("decoder.", dec.state_dict()), ("ema_decoder.", ema_dec.state_dict())):
            sd.update({prefix + k: v for k, v in s.items()})
        torch.save({"state_dict": sd, "epoch": 2}, os.path.join(tmp, "stage3.ckpt"))
        y = torch.randn(1, 4, dtype=D64)
        img = torch.rand(1, 1, 5, 9, 10, dtype=D64)
        for ema, d, e, tag in ((True, ema_dec, ema_enc, "ema"), (False, dec, enc, "plain")):
            flag = [] if ema else ["--no-ema"]
            out = os.path.join(tmp, "shift_%s.safetensors" % tag)
            convert("shift_unet", os.path.join(tmp, "stage3.ckpt"), out, "--dtype", "keep", *flag)
            conv, _ = cc.read_safetensors(out)
            write_case(cases, "shift_unet_" + tag, "shift_unet", shift_kw, conv, [z, t, y], list(d(z, t, y)))
            expected["shift_unet_" + tag] = "shift_unet"
            out = os.path.join(tmp, "encoder_%s.safetensors" % tag)
            convert("semantic_encoder", os.path.join(tmp, "stage3.ckpt"), out, "--dtype", "keep", *flag)
            conv, _ = cc.read_safetensors(out)
            check(set(conv) == set(e.state_dict()), "semantic_encoder (%s): one backbone copy, every key" % tag)
            write_case(cases, "encoder_" + tag, "attention_semantic_encoder", ase_kw, conv, [img], [e(img)])
            expected["encoder_" + tag] = "attention_semantic_encoder"

        # Backbone copies that disagree are refused.
        bad = dict(sd)
        k = "ema_encoder." + cc.BACKBONE_COPY + "features.0.0.weight"
        bad[k] = bad[k] + 1.0
        torch.save({"state_dict": bad}, os.path.join(tmp, "stage3_bad.ckpt"))
        r = convert("semantic_encoder", os.path.join(tmp, "stage3_bad.ckpt"), os.path.join(tmp, "x.safetensors"),
                    expect_ok=False)
        check(r.returncode == 1 and "backbone copies disagree" in r.stderr, "disagreeing backbone copies refused")

        # (d) torchvision ImageNet ConvNeXt weights (with the classifier's final Linear): stem summed to 1 channel.
        cx_kw = dict(dims=[4, 8], depths=[1, 1], layer_scale=1e-6, stochastic_depth_prob=0.1, in_channels=1)
        torch.manual_seed(8)
        from torchvision.models.convnext import CNBlockConfig, ConvNeXt as TVConvNeXt
        rgb = TVConvNeXt([CNBlockConfig(4, 8, 1), CNBlockConfig(8, None, 1)], stochastic_depth_prob=0.1,
                         num_classes=5).to(D64)
        randomise(rgb)
        rgb.eval()
        torch.save(rgb.state_dict(), os.path.join(tmp, "convnext_imagenet.pth"))
        convert("convnext_imagenet", os.path.join(tmp, "convnext_imagenet.pth"), os.path.join(tmp, "cx.safetensors"),
                "--dtype", "keep")
        conv, _ = cc.read_safetensors(os.path.join(tmp, "cx.safetensors"))
        check(not any(k.startswith("classifier.2.") for k in conv) and conv["features.0.0.weight"].shape[1] == 1,
              "convnext_imagenet: classifier.2 dropped, 1-channel stem")
        gray = torch.rand(2, 1, 12, 16, dtype=D64)
        rgb.classifier[2] = torch.nn.Identity()
        write_case(cases, "convnext_imagenet", "convnext", cx_kw, conv, [gray], [rgb(gray.repeat(1, 3, 1, 1))])
        expected["convnext_imagenet"] = "convnext"
        convert("convnext_imagenet", os.path.join(tmp, "convnext_imagenet.pth"),
                os.path.join(tmp, "cx_prefixed.safetensors"), "--backbone-prefix")
        pre, _ = cc.read_safetensors(os.path.join(tmp, "cx_prefixed.safetensors"))
        check(sorted(pre) == sorted(cc.BACKBONE + k for k in conv), "--backbone-prefix: backbone.backbone.<k>")

        # Unknown layouts and wrong kinds are refused with the prefixes found.
        r = convert("autoencoder", os.path.join(tmp, "stage2.ckpt"), os.path.join(tmp, "x.safetensors"),
                    expect_ok=False)
        check(r.returncode == 1 and "ema_unet." in r.stderr and "does not look like" in r.stderr,
              "a stage-2 checkpoint is not an autoencoder: %s" % r.stderr.strip()[:160])
        r = convert("shift_unet", os.path.join(tmp, "stage2.ckpt"), os.path.join(tmp, "x.safetensors"),
                    expect_ok=False)
        check(r.returncode == 1 and "no keys start with \"ema_decoder.\"" in r.stderr,
              "a stage-2 checkpoint has no ShiftUNet: %s" % r.stderr.strip()[:160])
        r = convert("unet", os.path.join(tmp, "missing.ckpt"), os.path.join(tmp, "x.safetensors"), expect_ok=False)
        check(r.returncode == 1 and "no such file" in r.stderr, "a missing input file")
        r = convert("convnext_imagenet", os.path.join(tmp, "cx_prefixed.safetensors"),
                    os.path.join(tmp, "x.safetensors"), expect_ok=False)
        check(r.returncode == 1 and "cannot read" in r.stderr, "a file torch cannot load")

        # Our networks load every converted file strictly and reproduce the twins.
        r = subprocess.run([reference_check, cases], capture_output=True, text=True)
        print(r.stdout.rstrip())
        lines = {ln.split()[1][:-len(".safetensors")]: ln.split()[0] for ln in r.stdout.splitlines()
                 if ln.split() and ln.split()[0] in ("PASS", "FAIL", "SKIP")}
        for name, net in sorted(expected.items()):
            status = lines.get(name)
            if status == "SKIP" and net in ("convnext", "attention_semantic_encoder"):
                print("note %s: SKIP (%s is not built into the runner yet)" % (name, net))
                continue
            check(status == "PASS", "%s loads into our %s and matches the twin (%s)" % (name, net, status))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
