#!/usr/bin/env bash
# Stage 1 with the 2.5D LPIPS perceptual term (`ldae train-ae --lpips`), end to end at the
# tiny preset on 18x20x18 phantoms (every axis >= 17, as LPIPS needs), without torch: the
# LPIPS file is written here by a few lines of plain Python (random weights in the layout
# of tools/convert_lpips.py; a wrong key or shape would make the strict load fail):
#   - config.json records the file's absolute path and fingerprint; log.csv's perceptual
#     column and the validation rows' val_lpips are filled;
#   - kill -9 at a random step, then the same command: the final checkpoints and log.csv
#     are byte-identical to the uninterrupted run's (the slice generator is checkpointed);
#   - another LPIPS file for the same folder, and volumes with an axis under 17 voxels, are
#     refused before any training.
# Usage: test_train_ae_lpips.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_train_ae_lpips.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # see test_train_ae.sh

# write_lpips FILE SEED: LPIPS SqueezeNet 1.1 weights, F32, uniform(-1/sqrt(fan_in), ...)
# convolutions and non-negative lin heads in [0, 1/C).
write_lpips() {
  python3 - "$1" "$2" <<'EOF'
import json, random, struct, sys
from array import array
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
shapes = {"scaling_layer.shift": [1, 3, 1, 1], "scaling_layer.scale": [1, 3, 1, 1],
          "net.slice1.0.weight": [64, 3, 3, 3], "net.slice1.0.bias": [64]}
fires = {3: (2, 64, 16, 64, 64), 4: (2, 128, 16, 64, 64), 6: (3, 128, 32, 128, 128), 7: (3, 256, 32, 128, 128),
         9: (4, 256, 48, 192, 192), 10: (5, 384, 48, 192, 192), 11: (6, 384, 64, 256, 256),
         12: (7, 512, 64, 256, 256)}
for i, (sl, cin, s, e1, e3) in fires.items():
    p = "net.slice%d.%d." % (sl, i)
    for name, shape in (("squeeze", [s, cin, 1, 1]), ("expand1x1", [e1, s, 1, 1]), ("expand3x3", [e3, s, 3, 3])):
        shapes[p + name + ".weight"] = shape
        shapes[p + name + ".bias"] = [shape[0]]
for k, c in enumerate([64, 128, 256, 384, 384, 512, 512]):
    shapes["lin%d.model.1.weight" % k] = [1, c, 1, 1]
header, blobs, offset = {}, [], 0
for name in sorted(shapes):
    shape = shapes[name]
    n = 1
    for d in shape:
        n *= d
    if name == "scaling_layer.shift":
        v = [-0.030, -0.088, -0.188]
    elif name == "scaling_layer.scale":
        v = [0.458, 0.448, 0.450]
    elif name.startswith("lin"):
        v = [rng.random() / shape[1] for _ in range(n)]
    else:
        w = shapes[name.rsplit(".", 1)[0] + ".weight"]
        b = (w[1] * w[2] * w[3]) ** -0.5
        v = [rng.uniform(-b, b) for _ in range(n)]
    blob = array("f", v)
    if sys.byteorder != "little":
        blob.byteswap()
    blob = blob.tobytes()
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
EOF
}

command -v python3 > /dev/null || { echo "SKIP: no python3 to write the LPIPS test file"; exit 77; }
write_lpips "$WORK/lpips.safetensors" 1 || { echo "FAIL: writing the LPIPS file"; exit 1; }
# 8 subjects x 2 visits of 18x20x18: 12 training scans, 6 optimizer steps per epoch, 2 epochs.
"$LDAE" synth --out "$WORK/cohort" --subjects 8 --shape 18,20,18 --visits 0,12 --phantom --no-overview \
  --seed 3 > /dev/null 2>&1 || { echo "FAIL: ldae synth"; exit 1; }
M="$WORK/cohort/manifest.csv"
TRAIN=(train-ae --data "$M" --preset tiny --quiet --lpips "$WORK/lpips.safetensors" --set epochs=2
       --set fake_3d_ratio=0.12)  # 2 slices per axis and scan: LPIPS dominates the time

# ---- An uninterrupted run ----
A="$WORK/a"
expect 0 'validation L1 [0-9.e-]+, PSNR [0-9.]+ dB, 2.5D LPIPS [0-9.e-]+' "${TRAIN[@]}" --out "$A"
grep -q "\"perceptual\": \"lpips $WORK/lpips.safetensors\"" "$A/config.json" \
  && ok "config.json names the LPIPS file" || fail "config.json: $(grep perceptual "$A/config.json")"
grep -Eq '"perceptual_fnv1a64": "[0-9a-f]{16}"' "$A/config.json" && ok "config.json holds the file's fingerprint" \
  || fail "config.json lacks perceptual_fnv1a64"
# Step rows: perceptual filled (> 0); validation rows: val_lpips filled (> 0).
awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
         $c["l1"] != "" && !($c["perceptual"] > 0) { bad = 1 }
         $c["val_l1"] != "" { ++v; if (!($c["val_lpips"] > 0)) bad = 1 }
         END { exit bad || v != 2 }' "$A/log.csv" \
  && ok "log.csv: perceptual in every step row, val_lpips in both validation rows" \
  || fail "log.csv: $(head -3 "$A/log.csv" | tr '\n' ' ') ... $(tail -1 "$A/log.csv")"

# ---- kill -9 at a random step, then the same command ----
B="$WORK/b"
target=$((RANDOM % 8 + 2))  # kill once log.csv has this many rows (of 14)
kill_during_run "$B" "$target" 30 "${TRAIN[@]}" --out "$B"
expect 0 'steps \([0-9]+ in this run\)' "${TRAIN[@]}" --out "$B"
expect_same_files "$A" "$B" checkpoints/last.safetensors checkpoints/best.safetensors log.csv

# ---- Refused before any training ----
cp "$A/checkpoints/last.safetensors" "$WORK/last_before"
rm "$A/done.json"
write_lpips "$WORK/lpips.safetensors" 2  # the same path, other weights
expect 1 'perceptual_fnv1a64: in the folder "[0-9a-f]{16}", now "[0-9a-f]{16}"' "${TRAIN[@]}" --out "$A"
cmp -s "$A/checkpoints/last.safetensors" "$WORK/last_before" && ok "the refused run left the folder alone" \
  || fail "the refused run changed the folder"
"$LDAE" synth --out "$WORK/small" --subjects 4 --shape 16,20,16 --visits 0 --phantom --no-overview > /dev/null 2>&1
expect 1 '\(16, 20, 16\) are too small for the LPIPS perceptual term.*every axis must be at least 17 voxels' \
  train-ae --data "$WORK/small/manifest.csv" --preset tiny --quiet --out "$WORK/bad" --set val_fraction=0.3 \
  --lpips "$WORK/lpips.safetensors"
expect 1 'fake_3d_ratio 0.05 selects no slice of the 18 along the shortest axis' "${TRAIN[@]}" --out "$WORK/bad" \
  --set fake_3d_ratio=0.05
[ ! -e "$WORK/bad" ] && ok "nothing written for the refused runs" || fail "a refused run created its folder"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
