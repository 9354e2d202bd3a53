#!/usr/bin/env bash
# `ldae model`: the paper networks' state-dict listings equal the published ones
# byte for byte; the summary, --help and bad names (exit non-zero with a message).
# Usage: test_model_cli.sh /path/to/ldae /path/to/tests/reference/state_dicts
set -u
LDAE=${1:?usage: test_model_cli.sh /path/to/ldae /path/to/state_dicts}
REF=${2:?usage: test_model_cli.sh /path/to/ldae /path/to/state_dicts}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

source "$(dirname "$0")/expect.sh"

# Every network the published listings cover and the zoo builds: byte-for-byte equal.
for net in autoencoder_kl patch_discriminator unet shift_unet convnext attention_semantic_encoder; do
  if "$LDAE" model "$net" --preset paper --state-dict > "$WORK/$net.txt" 2> "$WORK/err.txt" &&
     cmp -s "$WORK/$net.txt" "$REF/$net.txt"; then
    echo "ok:   ldae model $net --preset paper --state-dict equals $net.txt"
  else
    echo "FAIL: ldae model $net --preset paper --state-dict differs from $net.txt:"
    diff "$WORK/$net.txt" "$REF/$net.txt" | head -20 | sed 's/^/    /'
    sed 's/^/    stderr: /' "$WORK/err.txt"
    failures=$((failures + 1))
  fi
done

expect 0 'total parameters: 13,766,248' model autoencoder_kl --preset paper --no-cost
# The cost lines: counted during one forward pass (the paper autoencoder at half size, x8).
expect 0 'multiply-adds: +[0-9.]+ MMAC' model autoencoder_kl --preset tiny
expect 0 'activation memory: +[0-9.]+ MiB' model autoencoder_kl --preset tiny
expect 0 'multiply-adds: +[0-9.]+ MMAC' model shift_unet --preset tiny
expect 0 'encoder +[0-9,]+' model autoencoder_kl --preset tiny
expect 0 'image 1x1x64x80x64' model autoencoder_kl --preset course
expect 0 'latent: +1x3x16x20x16' model autoencoder_kl --preset course
expect 0 'total_parameters [0-9]+' model autoencoder_kl --preset tiny --state-dict
expect 0 'state-dict' model --help
expect 0 'total parameters: 486,927,363' model unet --preset paper --no-cost
expect 0 'total parameters: 11,048,769' model patch_discriminator --preset paper
expect 0 'logits: +1x1x14x18x14' model patch_discriminator --preset paper
expect 0 'logits: +1x1x2x3x2' model patch_discriminator --preset tiny
expect 0 'total parameters: [0-9,]+' model shift_unet --preset tiny
expect 0 'total parameters: 49,451,616' model convnext --preset paper --no-cost
expect 0 'slice: +128x160 -> final map 4x5' model convnext --preset paper --no-cost
expect 0 'slice: +16x20 -> final map 1x1' model convnext --preset tiny
expect 0 'total parameters: 53,588,065' model attention_semantic_encoder --preset paper --no-cost
expect 0 'slices: +64 axial slices of 64x80' model attention_semantic_encoder --preset course
expect 0 'total_parameters [0-9]+' model attention_semantic_encoder --preset tiny --state-dict
expect 1 "error: .*unknown network 'nope'.*autoencoder_kl" model nope
expect 1 "error: .*unknown preset 'huge'.*tiny, course, paper" model autoencoder_kl --preset huge
expect 2 'NET' model

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all ldae model checks passed"
