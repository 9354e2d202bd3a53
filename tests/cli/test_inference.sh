#!/usr/bin/env bash
# The inference commands end to end at the tiny preset: train-ae -> cache-latents ->
# train-ldm -> train-repr with one epoch each, then
#   - ldae reconstruct (encoded, semantic, --faithful): the NIfTI with the input's affine,
#     the figure, metrics.json; semantic mode is the same for the same seed and differs
#     for another;
#   - ldae encode --data on the latent cache's manifest: one code file per scan and
#     features.csv with the contract's header and the cache's split; --image: one file;
#   - ldae vary: K variations that differ;
#   - ldae manipulate: one volume per alpha, alpha 0 unchanged, with a probe file written here;
#   - ldae interpolate: the visit between two visits predicted and scored, --at for a time without a scan;
#   - refused before any work: a scan of another size, a missing scan, a folder that is not a
#     finished train-repr run, bad sampler options.
# Usage: test_inference.sh /path/to/ldae   (KEEP=1: keep the work folder, named at the end)
set -u
LDAE=${1:?usage: test_inference.sh /path/to/ldae}
WORK=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
# One thread: the tiny networks gain nothing from more (the results are the same bits).
export OMP_NUM_THREADS=1

t_start=$(now)

# 6 subjects x 3 visits of 16x20x16 (the tiny preset's image), one epoch of every stage.
"$LDAE" synth --out "$WORK/cohort" --subjects 6 --shape 16,20,16 --visits 0,6,12 --phantom --no-overview \
  --seed 5 > /dev/null 2>&1 || { echo "FAIL: ldae synth"; exit 1; }
"$LDAE" train-ae --data "$WORK/cohort/manifest.csv" --out "$WORK/run1" --preset tiny --quiet --set epochs=1 \
  > /dev/null 2>&1 || { echo "FAIL: ldae train-ae"; exit 1; }
"$LDAE" cache-latents --ae "$WORK/run1" --out "$WORK/lat" --quiet > /dev/null 2>&1 \
  || { echo "FAIL: ldae cache-latents"; exit 1; }
"$LDAE" train-ldm --latents "$WORK/lat" --out "$WORK/run2" --preset tiny --quiet --set epochs=1 \
  > /dev/null 2>&1 || { echo "FAIL: ldae train-ldm"; exit 1; }
"$LDAE" train-repr --ldm "$WORK/run2" --out "$WORK/run3" --preset tiny --quiet --set epochs=1 \
  > /dev/null 2>&1 || { echo "FAIL: ldae train-repr"; exit 1; }
t_trained=$(now)
echo "time: stages 1 to 3 $(awk -v a="$t_start" -v b="$t_trained" 'BEGIN { printf "%.1f", b - a }') s"
R3="$WORK/run3"
SCAN=$(ls "$WORK"/cohort/sub-0001/*ses-M00*.nii.gz | head -1)

affine_of() { "$LDAE" info "$1" | sed -n '/^affine:/,/^scaling:/p' | grep '^\['; }
json_value() {  # json_value FILE KEY...: a value from a JSON file (python3, no packages; KEY an index in lists)
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]: v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"
}

# ---- reconstruct ----
expect 0 'LDAE \(encoded, fixed sampler\) vs input: SSIM [0-9.e-]+' \
  reconstruct --run "$R3" --image "$SCAN" --out "$WORK/rec" --steps 5 --quiet
for f in reconstruction.nii.gz autoencoder_reconstruction.nii.gz figure.png metrics.json; do
  [ -s "$WORK/rec/$f" ] && ok "reconstruct wrote $f" || fail "reconstruct did not write $f"
done
[ "$(affine_of "$SCAN")" = "$(affine_of "$WORK/rec/reconstruction.nii.gz")" ] && [ -n "$(affine_of "$SCAN")" ] \
  && ok "the reconstruction has the input's affine" || fail "the reconstruction's affine differs from the input's"
"$LDAE" info "$WORK/rec/reconstruction.nii.gz" | grep -q 'dimensions: *16 x 20 x 16' \
  && ok "the reconstruction is 16 x 20 x 16" || fail "the reconstruction's size"
for k in vs_input vs_autoencoder autoencoder_vs_input; do
  for m in ssim psnr mse; do
    v=$(json_value "$WORK/rec/metrics.json" "$k" "$m" 2>/dev/null) && [ -n "$v" ] \
      && ok "metrics.json $k.$m = $v" || fail "metrics.json lacks $k.$m"
  done
done
[ "$(json_value "$WORK/rec/metrics.json" sampler encode_steps)" = 5 ] && ok "metrics.json records the steps" \
  || fail "metrics.json steps"
[ "$(json_value "$WORK/rec/metrics.json" provenance run)" = "$R3" ] && ok "metrics.json names RUN3" \
  || fail "metrics.json provenance: $(json_value "$WORK/rec/metrics.json" provenance run)"

SEM=(reconstruct --run "$R3" --image "$SCAN" --mode semantic --steps 4 --quiet)
expect 0 'LDAE \(semantic' "${SEM[@]}" --seed 7 --out "$WORK/s7a"
expect 0 'LDAE \(semantic' "${SEM[@]}" --seed 7 --out "$WORK/s7b"
expect 0 'LDAE \(semantic' "${SEM[@]}" --seed 8 --out "$WORK/s8"
a=$(json_value "$WORK/s7a/metrics.json" vs_input mse)
b=$(json_value "$WORK/s7b/metrics.json" vs_input mse)
c=$(json_value "$WORK/s8/metrics.json" vs_input mse)
[ "$a" = "$b" ] && ok "semantic mode, same seed: same result ($a)" || fail "same seed, different results: $a $b"
[ "$a" != "$c" ] && ok "semantic mode, another seed: another result ($c)" || fail "another seed, same result $a"
expect 0 'published sampler' reconstruct --run "$R3" --image "$SCAN" --out "$WORK/faithful" --steps 3 --faithful --quiet
[ "$(json_value "$WORK/faithful/metrics.json" sampler x0_clamp)" = 1.0 ] && ok "--faithful clamps x0 at 1" \
  || fail "--faithful clamp: $(json_value "$WORK/faithful/metrics.json" sampler x0_clamp)"

expect 0 'latent DDIM without the shift' reconstruct --run "$R3" --image "$SCAN" --out "$WORK/noshift" --steps 3 --no-shift --quiet
[ "$(json_value "$WORK/noshift/metrics.json" sampler semantic_shift)" = False ] \
  && [ "$(json_value "$WORK/faithful/metrics.json" sampler semantic_shift)" = True ] \
  && ok "metrics.json says whether the shift was used" \
  || fail "semantic_shift in metrics.json: $(json_value "$WORK/noshift/metrics.json" sampler semantic_shift)"

# ---- encode ----
LATM="$WORK/lat/manifest.csv"
n=$(($(wc -l < "$LATM") - 1))
expect 0 "$n scan\(s\) encoded \(y_sem and x_T\); features: " encode --run "$R3" --data "$LATM" --out "$WORK/enc" --steps 3 --quiet
F="$WORK/enc/features.csv"
head -1 "$F" | grep -Eq '^subject,session,diagnosis,age,split,y0,y1,.*,y31$' && ok "features.csv header (32 codes)" \
  || fail "features.csv header: $(head -1 "$F" | cut -c1-80)"
[ "$(($(wc -l < "$F") - 1))" -eq "$n" ] && ok "features.csv has $n rows" || fail "features.csv rows: $(wc -l < "$F")"
[ "$(ls "$WORK/enc/codes" | wc -l)" -eq "$n" ] && ok "$n code files" || fail "code files: $(ls "$WORK/enc/codes" | wc -l)"
splits=$(awk -F, 'NR > 1 { print $5 }' "$F" | sort -u | tr '\n' ' ')
echo "$splits" | grep -Eq '^((test|train|val) )+$' && echo "$splits" | grep -q train \
  && ok "features.csv carries the cache's split ($splits)" || fail "splits: '$splits'"
# The split of each scan is the cache's (same order, same rows).
paste -d' ' <(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "split") c = i } NR > 1 { print $c }' "$LATM") \
  <(awk -F, 'NR > 1 { print $5 }' "$F") | awk '$1 != $2 { bad = 1 } END { exit bad }' \
  && ok "each row's split is the cache's" || fail "rows' splits differ from the cache's"
expect 0 '1 scan\(s\) encoded \(y_sem\)' encode --run "$R3" --image "$SCAN" --out "$WORK/enc1" --no-xT --quiet
[ -s "$WORK/enc1/codes/$(basename "$SCAN" .nii.gz).safetensors" ] && ok "encode --image wrote one code file" \
  || fail "encode --image: $(ls "$WORK/enc1/codes")"
expect 0 'y_sem +F32 +\[32\]' ckpt info "$WORK/enc1/codes/$(basename "$SCAN" .nii.gz).safetensors"
expect 0 'x_T +F32 +\[3, 8, 10, 8\]' ckpt info "$WORK/enc/codes/$(ls "$WORK/enc/codes" | head -1)"

# ---- vary ----
expect 0 '3 variations; mean per-voxel std across them [0-9.]*[1-9]' \
  vary --run "$R3" --image "$SCAN" --count 3 --out "$WORK/vary" --steps 3 --quiet
for f in variation_01.nii.gz variation_02.nii.gz variation_03.nii.gz variation_std.nii.gz figure.png vary.json; do
  [ -s "$WORK/vary/$f" ] && ok "vary wrote $f" || fail "vary did not write $f"
done

# ---- manipulate ----
# A probes.safetensors as `ldae probe` writes it (a random AD-vs-CN probe of the 32 codes),
# written with python3's struct: header {"classifier.linear.weight" (1, 32), ".bias" (1),
# ".mean" (32), ".std" (32)}, little-endian float32.
python3 - "$WORK/probes.safetensors" 32 <<'PY'
import json, random, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
random.seed(3)
tensors = [("classifier.linear.weight", [1, n], [random.uniform(-1, 1) for _ in range(n)]),
           ("classifier.linear.bias", [1], [0.1]), ("classifier.mean", [n], [0.0] * n),
           ("classifier.std", [n], [1.0] * n)]
header, data = {"__metadata__": {"positive_class": "AD"}}, b""
for name, shape, values in tensors:
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * len(values)]}
    data += struct.pack("<%df" % len(values), *values)
h = json.dumps(header).encode()
open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
expect 0 'input P\(AD\) [0-9.]+; .* -1.00: [0-9.]+, [0-9.]+; \+0.00: [0-9.]+, 0.00000; \+2.00' \
  manipulate --run "$R3" --image "$SCAN" --probe "$WORK/probes.safetensors" --alphas=-1,0,2 --out "$WORK/manip" \
  --steps 3 --quiet
for f in manipulated_alpha_-1.00.nii.gz manipulated_alpha_+0.00.nii.gz manipulated_alpha_+2.00.nii.gz figure.png \
  manipulate.json; do
  [ -s "$WORK/manip/$f" ] && ok "manipulate wrote $f" || fail "manipulate did not write $f"
done
[ "$(json_value "$WORK/manip/manipulate.json" alphas 1 mean_abs_change_vs_alpha_0)" = 0.0 ] \
  && ok "manipulate.json: alpha 0 is the reference" || fail "manipulate.json alpha 0 change"

# ---- interpolate ----
SUBJ=$(awk -F, 'NR == 2 { print $1 }' "$WORK/cohort/manifest.csv")
expect 0 "between 0 and 12 months: 6 months SSIM LDAE [0-9.]+, nearest visit [0-9.]+, linear blend [0-9.]+;" \
  interpolate --run "$R3" --data "$WORK/cohort/manifest.csv" --subject "$SUBJ" --out "$WORK/interp" --steps 3 --quiet
for f in interpolated_ses-M06.nii.gz figure.png interpolate.json; do
  [ -s "$WORK/interp/$f" ] && ok "interpolate wrote $f" || fail "interpolate did not write $f"
done
[ "$(json_value "$WORK/interp/interpolate.json" predictions 0 fraction)" = 0.5 ] \
  && ok "interpolate.json: month 6 of 0..12 is the fraction 0.5" || fail "interpolate.json fraction"
expect 0 "3 months \(no real scan to score\); 6 months SSIM" \
  interpolate --run "$R3" --data "$WORK/cohort/manifest.csv" --subject "$SUBJ" --at 3,6 --out "$WORK/interp2" \
  --steps 2 --quiet

# ---- refusals ----
"$LDAE" synth --out "$WORK/small" --subjects 1 --shape 16,16,16 --visits 0 --phantom --no-overview --seed 1 \
  > /dev/null 2>&1 || fail "ldae synth (small)"
SMALL=$(ls "$WORK"/small/sub-0001/*.nii.gz | head -1)
expect 1 'trained on \(16, 20, 16\)' reconstruct --run "$R3" --image "$SMALL" --out "$WORK/bad1" --steps 2 --quiet
[ -e "$WORK/bad1" ] && fail "a refused reconstruct created its folder" || ok "a refused reconstruct wrote nothing"
expect 1 'no such file' reconstruct --run "$R3" --image "$WORK/absent.nii.gz" --out "$WORK/bad2"
expect 1 'train-repr' reconstruct --run "$WORK/run2" --image "$SCAN" --out "$WORK/bad3" --steps 2
expect 1 '.' reconstruct --run "$WORK/nothing" --image "$SCAN" --out "$WORK/bad4" --steps 2
expect 2 'clamp' reconstruct --run "$R3" --image "$SCAN" --out "$WORK/bad5" --clamp -1
expect 2 'mode' reconstruct --run "$R3" --image "$SCAN" --out "$WORK/bad6" --mode noise
expect 2 'exactly one' encode --run "$R3" --image "$SCAN" --data "$LATM" --out "$WORK/bad7"
expect 1 'trained on \(16, 20, 16\)' encode --run "$R3" --data "$WORK/small/manifest.csv" --out "$WORK/bad8"
expect 2 'count' vary --run "$R3" --image "$SCAN" --count 0 --out "$WORK/bad9"
expect 1 'same to two decimals' manipulate --run "$R3" --image "$SCAN" --probe "$WORK/probes.safetensors" \
  --alphas 1,1.001 --out "$WORK/bad10"
expect 1 'no such file' manipulate --run "$R3" --image "$SCAN" --probe "$WORK/absent.safetensors" --out "$WORK/bad11"
expect 1 'no visit at 5 months' interpolate --run "$R3" --data "$WORK/cohort/manifest.csv" --subject "$SUBJ" \
  --from 5 --out "$WORK/bad12"
expect 1 "no subject 'nobody'" interpolate --run "$R3" --data "$WORK/cohort/manifest.csv" --subject nobody \
  --out "$WORK/bad13"
for d in bad10 bad11 bad12 bad13; do
  [ -e "$WORK/$d" ] && fail "a refused command created $d" || ok "a refused command wrote nothing ($d)"
done

t_end=$(now)
echo "time: whole test $(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') s"
[ -n "${KEEP:-}" ] && echo "work folder kept: $WORK"
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
