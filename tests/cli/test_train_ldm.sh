#!/usr/bin/env bash
# Stage 2 end to end at the tiny preset on a tiny synthetic cohort:
#   train-ae (1 epoch) -> cache-latents -> train-ldm
#   - cache-latents writes manifest.csv (split, latent_path), one latent file per scan and
#     latents.json (scale factor 1/std, or forced); the same command again does nothing;
#     --sample is reproducible from its seed; bad input is refused (an unfinished or
#     missing autoencoder run, an unreadable manifest, volumes of another shape, a folder
#     that is not a cache, other arguments into a complete cache);
#   - cache-latents --image-space writes the images with the same split, refuses --sample/--scale;
#   - train-ldm writes its run folder (config.json, log.csv, checkpoints with model, ema
#     and optim tensors, figures of decoded samples, done.json), the validation eps-MSE
#     falls; the same command again says the run is complete;
#   - kill -9 at a random step, then the same command: the final checkpoints and log.csv
#     are byte-identical to the uninterrupted run's;
#   - a NaN loss stops the run naming the step and keeps the last good checkpoint;
#   - val_every validates every n-th epoch and the last, without changing the training;
#   - bad settings, a preset other than the cache's, an unfinished cache or autoencoder
#     run and a different configuration in the folder are refused before any training.
# Usage: test_train_ldm.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_train_ldm.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
# One thread unless told otherwise (see test_train_ae.sh; the results are the same bits
# with any thread count).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

T_START=$(now)

# 8 subjects x 2 visits of 16x20x16: 12 training, 2 validation, 2 test scans.
"$LDAE" synth --out "$WORK/cohort" --subjects 8 --shape 16,20,16 --visits 0,12 --phantom --no-overview \
  --seed 3 > /dev/null 2>&1 || { echo "FAIL: ldae synth"; exit 1; }
M="$WORK/cohort/manifest.csv"
R1="$WORK/run1"
expect 0 'steps' train-ae --data "$M" --preset tiny --quiet --out "$R1" --set epochs=1

# ---- cache-latents ----
LAT="$WORK/lat"
expect 0 '16 latents of \(3, 8, 10, 8\), scale factor' cache-latents --ae "$R1" --out "$LAT" --quiet
for f in latents.json manifest.csv latents/sub-0001_ses-M00.safetensors latents/sub-0008_ses-M12.safetensors; do
  [ -s "$LAT/$f" ] && ok "latent cache holds $f" || fail "latent cache lacks $f"
done
n=$(ls "$LAT/latents" | wc -l)
[ "$n" -eq 16 ] && ok "16 latent files" || fail "$n latent files, want 16"
head -1 "$LAT/manifest.csv" | grep -q '^subject,path,diagnosis,session,age,.*,split,latent_path$' \
  && ok "manifest.csv header ends with split,latent_path" || fail "manifest.csv header: $(head -1 "$LAT/manifest.csv")"
for want in '"complete": true' '"mode": "mean"' '"scale_source": "1/std of the training latents"' \
            '"preset": "tiny"' '"train": 12' '"val": 2' '"test": 2' '"autoencoder_checkpoint": "best"'; do
  grep -q "$want" "$LAT/latents.json" && ok "latents.json: $want" || fail "latents.json lacks $want"
done
# The scale factor is 1 / the recorded std of the training latents.
awk '/"scale_factor"/ { gsub(/[,]/, ""); s = $2 } /"latent_std"/ { gsub(/[,]/, ""); d = $2 }
     END { exit !(s > 0 && d > 0 && (s * d - 1) ^ 2 < 1e-20) }' "$LAT/latents.json" \
  && ok "scale_factor = 1 / latent_std" || fail "scale_factor is not 1 / latent_std"
# Every split value is train, val or test; the test rows are the 2 scans of one subject.
awk -F, 'NR > 1 { c[$(NF - 1)]++ } END { exit !(c["train"] == 12 && c["val"] == 2 && c["test"] == 2) }' \
  "$LAT/manifest.csv" && ok "manifest.csv: 12 train, 2 val, 2 test rows" || fail "manifest.csv split counts"
expect 0 'already complete' cache-latents --ae "$R1" --out "$LAT" --quiet
expect 1 'autoencoder_checkpoint: in the folder "best", now "last"' \
  cache-latents --ae "$R1" --out "$LAT" --which last --quiet
# --sample: reproducible from the seed, different from the mean; --scale forces the factor.
expect 0 'scale factor 0.873' cache-latents --ae "$R1" --out "$WORK/lat_s1" --sample --scale 0.873 --quiet
expect 0 'latents' cache-latents --ae "$R1" --out "$WORK/lat_s2" --sample --scale 0.873 --quiet
expect 0 'latents' cache-latents --ae "$R1" --out "$WORK/lat_s3" --sample --seed 7 --quiet
f=latents/sub-0002_ses-M00.safetensors
cmp -s "$WORK/lat_s1/$f" "$WORK/lat_s2/$f" && ok "--sample: the same seed gives the same latent" \
  || fail "--sample: two runs with one seed differ"
cmp -s "$WORK/lat_s1/$f" "$WORK/lat_s3/$f" && fail "--sample: another seed gives the same latent" \
  || ok "--sample: another seed gives another latent"
cmp -s "$WORK/lat_s1/$f" "$LAT/$f" && fail "--sample stored the mean" || ok "--sample differs from the mean"
grep -q '"scale_source": "forced"' "$WORK/lat_s1/latents.json" && grep -q '"mode": "sample"' "$WORK/lat_s1/latents.json" \
  && ok "latents.json: forced scale, sample mode" || fail "latents.json of --sample --scale"
# --image-space: the images in [-1, 1] with the same split; --sample and --scale refused with it.
expect 0 '16 image-space volumes of \(1, 16, 20, 16\), scale factor 1 ' \
  cache-latents --image-space --ae "$R1" --out "$WORK/lat_img" --quiet
grep -q '"space": "image"' "$WORK/lat_img/latents.json" && grep -q '"scale_source": "image space: fixed 1"' \
  "$WORK/lat_img/latents.json" && ok "latents.json: image space, scale 1" || fail "latents.json of --image-space"
python3 - "$LAT/manifest.csv" "$WORK/lat_img/manifest.csv" <<'PY' && ok "--image-space: the same split as the latent cache" \
  || fail "--image-space: another split (or no rows)"
import csv, sys
rows = [[(r["subject"], r["session"], r["split"]) for r in csv.DictReader(open(f))] for f in sys.argv[1:]]
sys.exit(0 if len(rows[0]) == 16 and rows[0] == rows[1] else 1)
PY
expect 0 'already complete' cache-latents --image-space --ae "$R1" --out "$WORK/lat_img" --quiet
expect 1 '--sample .*--image-space' cache-latents --image-space --sample --ae "$R1" --out "$WORK/bad_lat" --quiet
expect 1 '--image-space.*--scale is refused' cache-latents --image-space --scale 2 --ae "$R1" --out "$WORK/bad_lat" --quiet
# Refused.
cp -r "$R1" "$WORK/run1_unfinished" && rm "$WORK/run1_unfinished/done.json"
expect 1 'was not finished \(no done.json\)' cache-latents --ae "$WORK/run1_unfinished" --out "$WORK/bad_lat"
expect 1 'has no config.json: not a run folder' cache-latents --ae "$WORK/cohort" --out "$WORK/bad_lat"
expect 1 'cannot use the manifest: .*missing.csv' cache-latents --ae "$R1" --data "$WORK/missing.csv" --out "$WORK/bad_lat"
"$LDAE" synth --out "$WORK/odd" --subjects 4 --shape 16,20,14 --visits 0 --phantom --no-overview > /dev/null 2>&1
expect 1 'has shape \(16, 20, 14\), but the autoencoder of .* was trained on volumes of \(16, 20, 16\)' \
  cache-latents --ae "$R1" --data "$WORK/odd/manifest.csv" --out "$WORK/bad_lat"
[ ! -e "$WORK/bad_lat" ] && ok "nothing written for refused caches" || fail "a refused cache-latents wrote its folder"
expect 1 'is not empty and is not a latent cache' cache-latents --ae "$R1" --out "$WORK/cohort"
expect 2 'which' cache-latents --ae "$R1" --out "$WORK/bad_lat" --which middle
expect 2 'scale' cache-latents --ae "$R1" --out "$WORK/bad_lat" --scale -1

# ---- train-ldm: an uninterrupted run ----
TRAIN=(train-ldm --latents "$LAT" --preset tiny --quiet)
t0=$(now)
expect 0 'validation eps-MSE [0-9.e-]+, EMA' "${TRAIN[@]}" --out "$WORK/a"
t1=$(now)
echo "time: uninterrupted tiny train-ldm run $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
A="$WORK/a"
for f in config.json log.csv done.json checkpoints/last.safetensors checkpoints/best.safetensors \
         figures/epoch_001.png figures/epoch_004.png; do
  [ -s "$A/$f" ] && ok "run folder holds $f" || fail "run folder lacks $f"
done
grep -q '"stage": "train-ldm"' "$A/config.json" && grep -q "\"latents\": \"$LAT\"" "$A/config.json" \
  && grep -q '"schedule": "linear"' "$A/config.json" && ok "config.json: stage, latents, schedule" \
  || fail "config.json lacks stage / latents / schedule"
head -1 "$A/log.csv" | grep -q '^step,epoch,loss,grad_norm,val_mse,val_mse_ema$' && ok "log.csv header" \
  || fail "log.csv header: $(head -1 "$A/log.csv")"
# 4 epochs x 3 steps + 4 validation rows.
rows=$(($(wc -l < "$A/log.csv") - 1))
[ "$rows" -eq 16 ] && ok "log.csv has 12 step rows and 4 validation rows" || fail "log.csv has $rows rows, want 16"
vals=$(awk -F, 'NR > 1 && $5 != "" { print $5 }' "$A/log.csv")
first=$(echo "$vals" | head -1)
last=$(echo "$vals" | tail -1)
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'; then ok "validation eps-MSE falls: $first -> $last"
else fail "validation eps-MSE does not fall: $first -> $last"; fi
expect 0 'already complete' "${TRAIN[@]}" --out "$A"
for part in 'ema: +144 tensors' 'model: +144 tensors' 'optim: +432 tensors'; do
  expect 0 "$part" ckpt info "$A/checkpoints/last.safetensors"
done
expect 0 'ldae.ema.updates = 12' ckpt info "$A/checkpoints/last.safetensors"

# ---- kill -9 at a random step, then the same command ----
B="$WORK/b"
target=$((RANDOM % 10 + 2))  # kill once log.csv has this many rows (of 16)
kill_during_run "$B" "$target" 10 "${TRAIN[@]}" --out "$B"
expect 0 'resuming .* from step [1-9]' "${TRAIN[@]}" --out "$B"
expect_same_files "$A" "$B" checkpoints/last.safetensors checkpoints/best.safetensors log.csv figures/epoch_004.png

# ---- A NaN loss stops the run and keeps the last good checkpoint ----
expect 1 'loss is NaN at step 4 .*last good checkpoint.*last.safetensors \(step 3\)' \
  "${TRAIN[@]}" --out "$WORK/nan" --set debug_nan_at_step=4
expect 0 'step 3' ckpt info "$WORK/nan/checkpoints/last.safetensors"
[ ! -f "$WORK/nan/done.json" ] && ok "no done.json after the NaN stop" || fail "done.json after a NaN stop"
expect 1 '(loss|gradient norm) is (NaN|[+-]infinity) at step [0-9]+' "${TRAIN[@]}" --out "$WORK/huge" --set lr=1e30

# ---- EMA per micro-batch (the published behaviour under accumulation) ----
expect 0 'steps' "${TRAIN[@]}" --out "$WORK/emab" --set accumulate=2 --set ema_per_batch=true --set epochs=1
expect 0 'ldae.ema.updates = 3$' ckpt info "$WORK/emab/checkpoints/last.safetensors"
expect 0 'steps' "${TRAIN[@]}" --out "$WORK/emas" --set accumulate=2 --set epochs=1
expect 0 'ldae.ema.updates = 2$' ckpt info "$WORK/emas/checkpoints/last.safetensors"

# ---- val_every: validation (and figure, best) at epochs 3 and 4 only; the training unchanged ----
expect 0 'steps' "${TRAIN[@]}" --out "$WORK/v3" --set val_every=3
validated=$(awk -F, 'NR > 1 && $5 != "" { printf "%s ", $2 }' "$WORK/v3/log.csv")
[ "$validated" = "3 4 " ] && ok "val_every=3: validation rows at epochs 3 and 4" \
  || fail "val_every=3: validation rows at epochs '$validated', want '3 4 '"
[ -s "$WORK/v3/figures/epoch_003.png" ] && [ ! -e "$WORK/v3/figures/epoch_002.png" ] \
  && ok "val_every=3: figures of the validated epochs only" || fail "val_every=3: figures $(ls "$WORK/v3/figures")"
# The tensors of a safetensors file: the bytes after its 8-byte length and JSON header (the
# metadata, with the best validation value, differs).
tensor_bytes() { tail -c +$((9 + $(od -An -tu8 -N8 "$1" | tr -d ' '))) "$1"; }
tensor_bytes "$A/checkpoints/last.safetensors" > "$WORK/a.tensors"
tensor_bytes "$WORK/v3/checkpoints/last.safetensors" > "$WORK/v3.tensors"
[ "$(wc -c < "$WORK/a.tensors")" -gt 100000 ] && cmp -s "$WORK/a.tensors" "$WORK/v3.tensors" \
  && ok "val_every=3: last.safetensors holds the same tensors as with val_every=1" \
  || fail "val_every=3 changed the trained tensors of last.safetensors"

# ---- Refused before any work ----
expect 2 "unknown setting 'epoch'.*known: seed" "${TRAIN[@]}" --out "$WORK/bad1" --set epoch=2
expect 2 "'epochs' \(int\) must be an integer" "${TRAIN[@]}" --out "$WORK/bad1" --set epochs=1.5
expect 2 "'ema_decay' \(float\) must be in \[0, 1\]" "${TRAIN[@]}" --out "$WORK/bad1" --set ema_decay=1.5
expect 2 "'schedule' \(string\) must be one of" "${TRAIN[@]}" --out "$WORK/bad1" --set schedule=quadratic
expect 1 'batch_size 64 is larger than the training split \(12 latents\)' "${TRAIN[@]}" --out "$WORK/bad1" \
  --set batch_size=64
expect 1 'made by an autoencoder of preset "tiny", this run.s preset is "course"' \
  train-ldm --latents "$LAT" --preset course --quiet --out "$WORK/bad1"
cp -r "$LAT" "$WORK/lat_unfinished" && rm "$WORK/lat_unfinished/latents.json"
expect 1 'is not complete \(no latents.json\)' train-ldm --latents "$WORK/lat_unfinished" --preset tiny --out "$WORK/bad1"
expect 1 'does not exist \(make it with .ldae cache-latents.\)' train-ldm --latents "$WORK/nowhere" --preset tiny \
  --out "$WORK/bad1"
# The samples need the autoencoder run; without samples they do not.
mv "$R1/done.json" "$R1/done.json.away"
expect 1 'decoded by the latents. autoencoder, but: .*was not finished' "${TRAIN[@]}" --out "$WORK/bad1"
[ ! -e "$WORK/bad1" ] && ok "nothing written for refused runs" || fail "a refused run created its folder"
expect 0 'steps' "${TRAIN[@]}" --out "$WORK/nosamples" --set sample_count=0 --set epochs=1
[ ! -e "$WORK/nosamples/figures/epoch_001.png" ] && ok "no figure with sample_count=0" || fail "figure with sample_count=0"
mv "$R1/done.json.away" "$R1/done.json"
expect 1 'holds a run with a different configuration, so it cannot be resumed' "${TRAIN[@]}" --out "$A" --set lr=0.002
expect 1 'settings.lr: in the folder 0.001, now 0.002' "${TRAIN[@]}" --out "$A" --set lr=0.002
expect 0 'ema_per_batch' train-ldm --help
expect 0 '"lr": 2.5e-05' train-ldm --list-settings --preset paper
expect 0 'sample' cache-latents --help

T_END=$(now)
echo "time: whole test $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.1f", b - a }') s"
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
