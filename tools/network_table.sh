#!/usr/bin/env bash
# Prints the markdown table of docs/networks.md: for every LDAE network and preset, the
# parameters, the multiply-adds and the activation memory of one forward pass (batch 1,
# float32, autograd on), as `ldae model NET --preset P` counts them.
# Usage: tools/network_table.sh path/to/ldae
set -euo pipefail
LDAE=${1:?usage: tools/network_table.sh path/to/ldae}
echo "| network | preset | input | parameters | forward multiply-adds | activation memory |"
echo "| --- | --- | --- | ---: | ---: | ---: |"
for net in autoencoder_kl patch_discriminator unet shift_unet convnext attention_semantic_encoder; do
  for preset in tiny course paper; do
    out=$("$LDAE" model "$net" --preset "$preset" 2>/dev/null)
    input=$("$LDAE" model "$net" --preset "$preset" --arguments |
      /usr/bin/python3 -c 'import json,sys; i=json.load(sys.stdin)["inputs"]; print(", ".join(k+" "+"x".join(map(str,v)) for k,v in i.items()))')
    params=$(sed -n 's/^total parameters: //p' <<<"$out")
    macs=$(sed -n 's/^ *multiply-adds: *\([^(]*\) (.*/\1/p' <<<"$out" | sed 's/ *$//')
    mem=$(sed -n 's/^ *activation memory: *\([^(]*\) (.*/\1/p' <<<"$out" | sed 's/ *$//')
    note=$(grep -q 'counts x8' <<<"$out" && echo " (half size x8)" || true)
    echo "| $net | $preset | $input | $params | $macs$note | $mem$note |"
  done
done
