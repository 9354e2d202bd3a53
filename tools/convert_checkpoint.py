#!/usr/bin/python3
"""Convert published LDAE checkpoints (PyTorch pickles) into safetensors files that our networks load with strict
key checks (the keys of ldae-state-dicts/*.txt; tests/reference/state_dicts/ holds a copy).

usage: convert_checkpoint.py KIND INPUT OUTPUT [--no-ema] [--backbone-prefix] [--dtype float32|keep]
                             [--unsafe-load]

KIND and the INPUT it expects:
  autoencoder        the released AutoencoderKL: a plain state dict (encoder.blocks..., quant_conv_mu...), or a
                     stage-1 Lightning checkpoint whose keys carry "model." (or "autoencoder.")
  unet               a stage-2 Lightning checkpoint: keys "ema_unet." (default) or "unet." (--no-ema)
  shift_unet         a stage-3 Lightning checkpoint: keys "ema_decoder." (default) or "decoder." (--no-ema)
  semantic_encoder   a stage-3 Lightning checkpoint: keys "ema_encoder." (default) or "encoder." (--no-ema); the
                     backbone is stored twice (backbone.backbone.<k> and slice_distributed.module.backbone.<k>):
                     both copies must be equal, one is kept (backbone.backbone.<k>)
  convnext_imagenet  torchvision ConvNeXt ImageNet weights (a state dict: features..., classifier.0, classifier.2):
                     the stem's RGB kernels are summed into one input channel and the classifier's final Linear
                     (classifier.2) is dropped, as the published semantic encoder does; --backbone-prefix writes
                     the keys as backbone.backbone.<k> (the semantic encoder's backbone)

OUTPUT is a safetensors file: floating tensors as F32 (--dtype keep: as stored, F16/BF16 become F32), integer
buffers (num_batches_tracked) as I64; __metadata__ records the kind, the source file and the prefix used.
A checkpoint whose layout does not match KIND is refused with the key prefixes it does hold.

Checkpoints are read with torch.load(weights_only=True); a Lightning checkpoint whose hyper-parameters hold
other objects needs --unsafe-load (full unpickling: only for files you trust).
Needs torch (Debian: python3-torch).
"""

import argparse
import collections
import json
import os
import struct
import sys

import torch

# Keys each kind's state dict must hold (after the prefix is stripped): a cheap check of the layout.
REQUIRED = {
    "autoencoder": ["encoder.blocks.0.conv.weight", "decoder.blocks.0.conv.weight", "quant_conv_mu.conv.weight",
                    "quant_conv_log_sigma.conv.weight", "post_quant_conv.conv.weight"],
    "unet": ["time_embed.0.weight", "input_blocks.0.0.weight", "middle_block.0.in_layers.0.weight", "out.2.weight"],
    "shift_unet": ["time_embed.0.weight", "input_blocks.0.0.weight", "label_emb.weight",
                   "shift_middle_block.0.emb_z_layers.1.weight", "shift_out.2.weight", "out.2.weight"],
    "semantic_encoder": ["backbone.backbone.features.0.0.weight", "positional_encoding.pe",
                         "cross_attention.in_proj_weight", "layer_norm_after_attention.weight"],
    "convnext_imagenet": ["features.0.0.weight", "classifier.0.weight", "classifier.2.weight"],
}
# Top-level names each kind may hold (anything else is an unknown layout).
ALLOWED_TOP = {
    "autoencoder": {"encoder", "decoder", "quant_conv_mu", "quant_conv_log_sigma", "post_quant_conv"},
    "unet": {"time_embed", "input_blocks", "middle_block", "output_blocks", "out"},
    "shift_unet": {"time_embed", "label_emb", "input_blocks", "middle_block", "shift_middle_block", "output_blocks",
                   "shift_output_blocks", "out", "shift_out"},
    "semantic_encoder": {"backbone", "slice_distributed", "positional_encoding", "query_projection",
                         "key_projection", "value_projection", "soft_attention", "cross_attention",
                         "layer_norm_after_attention"},
    "convnext_imagenet": {"features", "classifier"},
}
LIGHTNING_PREFIX = {  # kind -> (EMA prefix, plain prefix)
    "unet": ("ema_unet.", "unet."),
    "shift_unet": ("ema_decoder.", "decoder."),
    "semantic_encoder": ("ema_encoder.", "encoder."),
}
BACKBONE_COPY = "slice_distributed.module.backbone."
BACKBONE = "backbone.backbone."


class ConversionError(Exception):
    pass


def prefixes(keys, depth=1):
    """'name.' prefixes of depth `depth` with their key counts, for error messages."""
    c = collections.Counter(".".join(k.split(".")[:depth]) + "." for k in keys)
    return ", ".join("%s (%d)" % (p, n) for p, n in sorted(c.items()))


def load(path, unsafe):
    if not os.path.isfile(path):
        raise ConversionError("%s: no such file" % path)
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds
        hint = "" if unsafe else " (a checkpoint holding other objects than tensors needs --unsafe-load)"
        raise ConversionError("%s: cannot read it with torch.load: %s%s" % (path, str(e).splitlines()[0], hint))


def as_state_dict(obj, path):
    """The tensors of a plain state dict, or of a Lightning checkpoint's "state_dict"."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ConversionError("%s: not a state dict nor a Lightning checkpoint (a dict with \"state_dict\")" % path)
    bad = [k for k, v in obj.items() if not torch.is_tensor(v)]
    if bad:
        raise ConversionError("%s: entries that are not tensors: %s" % (path, ", ".join(map(str, bad[:5]))))
    return dict(obj)


def strip(sd, prefix, path, kind):
    out = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    if not out:
        raise ConversionError("%s: no keys start with \"%s\" (needed for %s); the checkpoint holds %s"
                              % (path, prefix, kind, prefixes(sd)))
    return out


def check_layout(sd, kind, path, what):
    missing = [k for k in REQUIRED[kind] if k not in sd]
    unknown = sorted({k.split(".")[0] for k in sd} - ALLOWED_TOP[kind])
    if missing or unknown:
        msg = "%s: %s does not look like a state dict of kind %s" % (path, what, kind)
        if missing:
            msg += "; missing %s" % ", ".join(missing)
        if unknown:
            msg += "; unexpected top-level names %s" % ", ".join(unknown)
        raise ConversionError(msg + "; it holds " + prefixes(sd))


def dedupe_backbone(sd, path):
    """Drops slice_distributed.module.backbone.<k> after checking it equals backbone.backbone.<k>."""
    copies = {k[len(BACKBONE_COPY):]: v for k, v in sd.items() if k.startswith(BACKBONE_COPY)}
    kept = {k[len(BACKBONE):]: v for k, v in sd.items() if k.startswith(BACKBONE)}
    if copies and set(copies) != set(kept):
        only = sorted(set(copies) ^ set(kept))[:5]
        raise ConversionError("%s: the two backbone copies hold different keys (e.g. %s)" % (path, ", ".join(only)))
    for k, v in copies.items():
        w = kept[k]
        if v.shape != w.shape or not torch.equal(v, w):
            raise ConversionError("%s: %s%s differs from %s%s: the backbone copies disagree, refusing to choose"
                                  % (path, BACKBONE_COPY, k, BACKBONE, k))
    return {k: v for k, v in sd.items() if not k.startswith(BACKBONE_COPY)}


def convert(kind, sd, path, ema=True, backbone_prefix=False):
    """Returns (state dict with our keys, prefix used)."""
    used = ""
    if kind == "autoencoder":
        if "encoder.blocks.0.conv.weight" not in sd:
            for p in ("model.", "autoencoder."):
                if p + "encoder.blocks.0.conv.weight" in sd:
                    sd, used = strip(sd, p, path, kind), p
                    break
        check_layout(sd, kind, path, "the file")
    elif kind in LIGHTNING_PREFIX:
        used = LIGHTNING_PREFIX[kind][0 if ema else 1]
        sd = strip(sd, used, path, kind)
        check_layout(sd, kind, path, "\"%s*\"" % used)
        if kind == "semantic_encoder":
            sd = dedupe_backbone(sd, path)
    elif kind == "convnext_imagenet":
        check_layout(sd, kind, path, "the file")
        stem = sd["features.0.0.weight"]
        if stem.dim() != 4 or stem.shape[1] != 3:
            raise ConversionError("%s: features.0.0.weight has shape %s, expected an RGB stem (C, 3, 4, 4)"
                                  % (path, list(stem.shape)))
        sd = {k: v for k, v in sd.items() if not k.startswith("classifier.2.")}
        sd["features.0.0.weight"] = stem.sum(dim=1, keepdim=True)  # x repeated on R, G, B
        if backbone_prefix:
            sd = {BACKBONE + k: v for k, v in sd.items()}
    else:
        raise ConversionError("unknown kind %s (one of %s)" % (kind, ", ".join(REQUIRED)))
    return sd, used


# ---- safetensors ------------------------------------------------------------------------------------------

_CODES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
_BY_CODE = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> F32/F64/I64 tensor (written in sorted order); metadata: dict str -> str."""
    header, blobs, offset = {"__metadata__": dict(metadata)}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        b = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes() if t.numel() else b""
        header[name] = {"dtype": _CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns (dict name -> tensor, metadata) for F32/F64/I64 files (what write_safetensors writes)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        dtype = _BY_CODE[info["dtype"]]
        buf = bytearray(data[8 + n + s:8 + n + e])
        t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


def output_tensors(sd, dtype):
    out = {}
    for k, v in sd.items():
        if v.is_floating_point():
            if dtype == "float32" or v.dtype not in (torch.float32, torch.float64):
                v = v.to(torch.float32)
        elif v.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            v = v.to(torch.int64)
        else:
            raise ConversionError("%s: unsupported dtype %s" % (k, v.dtype))
        out[k] = v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__[__doc__.index("KIND and"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=sorted(REQUIRED), help="what INPUT holds (see below)")
    ap.add_argument("input", help="the PyTorch checkpoint or state dict")
    ap.add_argument("output", help="the safetensors file to write")
    ap.add_argument("--no-ema", action="store_true", help="Lightning checkpoints: the trained, not the EMA weights")
    ap.add_argument("--backbone-prefix", action="store_true",
                    help="convnext_imagenet: write keys as backbone.backbone.<k>")
    ap.add_argument("--dtype", choices=["float32", "keep"], default="float32",
                    help="floating tensors as F32 (default) or as stored")
    ap.add_argument("--unsafe-load", action="store_true",
                    help="unpickle everything (Lightning hyper-parameter objects); only for trusted files")
    args = ap.parse_args(argv)
    if args.backbone_prefix and args.kind != "convnext_imagenet":
        ap.error("--backbone-prefix applies to convnext_imagenet only")
    if args.no_ema and args.kind not in LIGHTNING_PREFIX:
        ap.error("--no-ema applies to the Lightning checkpoints (unet, shift_unet, semantic_encoder) only")
    try:
        sd = as_state_dict(load(args.input, args.unsafe_load), args.input)
        sd, used = convert(args.kind, sd, args.input, ema=not args.no_ema, backbone_prefix=args.backbone_prefix)
        tensors = output_tensors(sd, args.dtype)
        meta = {"kind": args.kind, "source": os.path.basename(args.input), "source_prefix": used}
        write_safetensors(args.output, tensors, meta)
    except ConversionError as e:
        print("convert_checkpoint: %s" % e, file=sys.stderr)
        return 1
    print("convert_checkpoint: %s: %d tensors (%d values) -> %s" % (
        args.kind, len(tensors), sum(t.numel() for t in tensors.values()), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
