#!/usr/bin/env bash
# Stage 3, `ldae train-repr`, end to end at the tiny preset on a tiny synthetic cohort:
# train-ae -> cache-latents -> train-ldm -> train-repr, each with few steps.
#   - a run writes its folder (config.json naming RUN2, LAT and RUN1, log.csv with the PDAE
#     losses and the validation SSIM, checkpoints with the encoder, the shift branch and
#     their EMA but not the frozen UNet, figures, done.json);
#   - the same command again says the run is complete;
#   - kill -9 at a random step, then the same command: the final checkpoints and log.csv
#     are byte-identical to the uninterrupted run's;
#   - --time-limit stops after the first epoch that ends past it, as a finished run,
#     --stop-after-epoch repeats that run byte for byte, and --continue trains it on to the
#     uninterrupted run's files;
#   - a NaN loss stops the run naming the step and keeps the last good checkpoint;
#   - refused before any training: a missing RUN2, an unfinished one, one of another stage
#     or preset, one whose checkpoint does not fit the frozen UNet, bad settings.
# Usage: test_train_repr.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_train_repr.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
# One thread: the tiny networks gain nothing from more (the results are the same bits).
export OMP_NUM_THREADS=1

t_start=$(now)

# 8 subjects x 2 visits of 16x20x16 (the tiny preset's image): 12 training scans after the
# split, 6 optimizer steps per epoch (accumulate 2), 2 epochs.
"$LDAE" synth --out "$WORK/cohort" --subjects 8 --shape 16,20,16 --visits 0,12 --phantom --no-overview \
  --seed 3 > /dev/null 2>&1 || { echo "FAIL: ldae synth"; exit 1; }
"$LDAE" train-ae --data "$WORK/cohort/manifest.csv" --out "$WORK/run1" --preset tiny --quiet --set epochs=1 \
  > /dev/null 2>&1 || { echo "FAIL: ldae train-ae"; exit 1; }
"$LDAE" cache-latents --ae "$WORK/run1" --out "$WORK/lat" --quiet > /dev/null 2>&1 \
  || { echo "FAIL: ldae cache-latents"; exit 1; }
"$LDAE" train-ldm --latents "$WORK/lat" --out "$WORK/run2" --preset tiny --quiet --set epochs=1 \
  > /dev/null 2>&1 || { echo "FAIL: ldae train-ldm"; exit 1; }
t_up=$(now)
echo "time: stages 1 and 2 $(awk -v a="$t_start" -v b="$t_up" 'BEGIN { printf "%.1f", b - a }') s"
R2="$WORK/run2"
TRAIN=(train-repr --ldm "$R2" --preset tiny --quiet)

# ---- An uninterrupted run ----
t0=$(now)
expect 0 'validation SSIM [0-9.e-]+, MSE' "${TRAIN[@]}" --out "$WORK/a"
t1=$(now)
echo "time: uninterrupted tiny train-repr run $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
A="$WORK/a"
for f in config.json log.csv done.json checkpoints/last.safetensors checkpoints/best.safetensors \
         figures/epoch_001.png figures/epoch_002.png; do
  [ -s "$A/$f" ] && ok "run folder holds $f" || fail "run folder lacks $f"
done
for key in '"stage": "train-repr"' "\"ldm_run\": \"$R2\"" "\"latents\": \"$WORK/lat\"" \
           "\"autoencoder_run\": \"$WORK/run1\"" '"ldm_checkpoint_fnv1a64": "[0-9a-f]{16}"' \
           '"ema_per_batch": false'; do
  grep -Eq "$key" "$A/config.json" && ok "config.json has $key" || fail "config.json lacks $key"
done
head -1 "$A/log.csv" | grep -q '^step,epoch,loss,loss_frozen,shift_rms,y_sem_std,grad_norm,val_ssim,val_mse,y_sem_spread,swap_loss_own,swap_loss_swapped,swap_loss_none,swap_share$' \
  && ok "log.csv header" || fail "log.csv header: $(head -1 "$A/log.csv")"
# 12 step rows + 2 validation rows.
rows=$(($(wc -l < "$A/log.csv") - 1))
[ "$rows" -eq 14 ] && ok "log.csv has 12 step rows and 2 validation rows" || fail "log.csv has $rows rows, want 14"
# Step 1 starts with the shift at zero (zero-initialised head): loss = loss_frozen.
awk -F, 'NR == 2 { exit !($3 == $4 && $5 == 0) }' "$A/log.csv" && ok "step 1: G = 0, so loss = loss_frozen" \
  || fail "step 1: $(sed -n 2p "$A/log.csv")"
awk -F, 'NR > 1 && $6 != "" { if ($5 > 0) n++ } END { exit !(n > 0) }' "$A/log.csv" && ok "the shift grows from 0" \
  || fail "shift_rms stayed 0"
vals=$(awk -F, 'NR > 1 && $8 != "" { print $8 }' "$A/log.csv")
[ "$(echo "$vals" | wc -l)" -eq 2 ] && echo "$vals" | awk '{ if (!($1 > -1 && $1 <= 1)) bad = 1 } END { exit bad }' \
  && ok "two validation SSIMs in (-1, 1]: $(echo $vals)" || fail "validation SSIMs: $vals"
# The code spread of the first training scans, with each validation row: positive and finite.
spreads=$(awk -F, 'NR > 1 && $8 != "" { print $10 }' "$A/log.csv")
[ "$(echo "$spreads" | wc -l)" -eq 2 ] && echo "$spreads" | awk '{ if (!($1 > 0 && $1 < 1e6)) bad = 1 } END { exit bad }' \
  && ok "two code spreads > 0: $(echo $spreads)" || fail "code spreads: $spreads"
# The code-swap check with each validation row: three positive losses; the share is written
# only where the branch beats the frozen UNet (own < none), and is then finite.
swaps=$(awk -F, 'NR > 1 && $8 != "" { print $11, $12, $13, $14 }' "$A/log.csv")
[ "$(echo "$swaps" | wc -l)" -eq 2 ] && echo "$swaps" | awk '{ if (!($1 > 0 && $2 > 0 && $3 > 0)) bad = 1;
    if ($1 < $3 && $4 == "") bad = 1; if ($1 >= $3 && $4 != "") bad = 1 } END { exit bad }' \
  && ok "two code-swap checks (own swapped none share): $(echo $swaps | tr '\n' ';')" || fail "code-swap checks: $swaps"
# swap_timesteps=0 turns the check off: the four columns stay empty.
"$LDAE" "${TRAIN[@]}" --out "$WORK/noswap" --set swap_timesteps=0 > /dev/null 2>&1 || fail "train-repr with swap_timesteps=0"
awk -F, 'NR > 1 && $8 != "" { n++; if ($11 $12 $13 $14 != "") bad = 1 } END { exit !(n == 2 && !bad) }' \
  "$WORK/noswap/log.csv" && ok "swap_timesteps=0: no code-swap check" || fail "swap_timesteps=0: $(cat "$WORK/noswap/log.csv")"
expect 0 'already complete' "${TRAIN[@]}" --out "$A"
# The checkpoint holds the encoder, the shift branch, their EMA and the optimizer, not the frozen UNet.
info=$("$LDAE" ckpt info "$A/checkpoints/last.safetensors" 2>&1)
for k in 'model.encoder.backbone' 'model.shift_unet.label_emb.weight' 'ema.shift_unet.shift_out' 'optim.'; do
  echo "$info" | grep -q "$k" && ok "checkpoint holds $k" || fail "checkpoint lacks $k"
done
echo "$info" | grep -Eq 'model\.shift_unet\.(input_blocks|middle_block|out\.)' && fail "the checkpoint holds the frozen UNet" \
  || ok "the checkpoint does not hold the frozen UNet"

# The EMA: once per optimizer step by default (12), after every micro-batch but the first
# with ema_per_batch, as published (one epoch: 12 micro-batches, 6 steps -> 11 updates).
expect 0 'ldae.ema.updates = 12' ckpt info "$A/checkpoints/last.safetensors"
expect 0 '6 steps' "${TRAIN[@]}" --out "$WORK/perbatch" --set ema_per_batch=true --set epochs=1
expect 0 'ldae.ema.updates = 11' ckpt info "$WORK/perbatch/checkpoints/last.safetensors"

# ---- kill -9 at a random step, then the same command ----
B="$WORK/b"
target=$((RANDOM % 8 + 2))  # kill once log.csv has this many rows (of 14)
kill_during_run "$B" "$target" 10 "${TRAIN[@]}" --out "$B"
expect 0 'steps \([0-9]+ in this run\)' "${TRAIN[@]}" --out "$B"
expect_same_files "$A" "$B" checkpoints/last.safetensors checkpoints/best.safetensors log.csv

# ---- --time-limit: stops after the first epoch that ends past the limit ----
# A limit of 6e-9 minutes is past when epoch 1 of 2 ends: the run is finished after it, its
# log.csv is the uninterrupted run's first epoch, and inference accepts it. --stop-after-epoch 1,
# which its done.json names, repeats it byte for byte.
expect 0 'stopped early: the time limit of 6e-09 min \(--time-limit\) was reached after epoch 1 of 2 \(--stop-after-epoch 1 repeats this run\)' \
  "${TRAIN[@]}" --out "$WORK/limited" --time-limit 6e-9
grep -q '"epochs_planned": 2' "$WORK/limited/done.json" && grep -q '"epochs": 1,' "$WORK/limited/done.json" \
  && ok "done.json: 1 epoch of 2" || fail "done.json of the limited run: $(cat "$WORK/limited/done.json")"
cmp -s <(head -8 "$A/log.csv") "$WORK/limited/log.csv" && ok "limited log.csv = the first epoch of the full run's" \
  || fail "limited log.csv differs from the full run's first epoch"
expect 0 'already complete' "${TRAIN[@]}" --out "$WORK/limited"
expect 0 'epoch1: the same command with --continue trains it on' "${TRAIN[@]}" --out "$WORK/epoch1" --stop-after-epoch 1
grep -q '"stopped_early": "--stop-after-epoch 1 of 2"' "$WORK/epoch1/done.json" && ok "done.json: --stop-after-epoch 1 of 2" \
  || fail "done.json of the stopped run: $(cat "$WORK/epoch1/done.json")"
expect_same_files "$WORK/limited" "$WORK/epoch1" checkpoints/last.safetensors checkpoints/best.safetensors log.csv
expect 0 'features.csv' encode --run "$WORK/limited" --data "$WORK/lat/manifest.csv" --out "$WORK/limited-enc" --no-xT
# --continue trains the stopped run on from its last checkpoint: the uninterrupted run's files.
expect 0 "continuing $WORK/limited from step" "${TRAIN[@]}" --out "$WORK/limited" --continue
expect_same_files "$A" "$WORK/limited" checkpoints/last.safetensors checkpoints/best.safetensors log.csv done.json
expect 0 'already complete' "${TRAIN[@]}" --out "$WORK/limited" --continue
expect 2 'time-limit' "${TRAIN[@]}" --out "$WORK/bad" --time-limit -1
expect 2 'stop-after-epoch' "${TRAIN[@]}" --out "$WORK/bad" --stop-after-epoch -1

# ---- A NaN loss stops the run and keeps the last good checkpoint ----
expect 1 'the loss is NaN at step 3 .*last good checkpoint.*last.safetensors \(step 2\)' \
  "${TRAIN[@]}" --out "$WORK/nan" --set debug_nan_at_step=3
expect 0 'step 2' ckpt info "$WORK/nan/checkpoints/last.safetensors"
[ ! -f "$WORK/nan/done.json" ] && ok "no done.json after the NaN stop" || fail "done.json after a NaN stop"

# ---- Refused before any work (no run folder is created) ----
expect 1 "run folder .*/nowhere: does not exist \(expected a finished 'ldae train-ldm' run\)" \
  train-repr --ldm "$WORK/nowhere" --preset tiny --quiet --out "$WORK/bad"
cp -r "$R2" "$WORK/unfinished" && rm "$WORK/unfinished/done.json"
expect 1 "unfinished: was not finished \(no done.json\)" train-repr --ldm "$WORK/unfinished" --preset tiny --quiet \
  --out "$WORK/bad"
expect 1 "is a run of 'train-ae', not of 'train-ldm'" train-repr --ldm "$WORK/run1" --preset tiny --quiet --out "$WORK/bad"
expect 1 'preset: the folder.s "tiny", this run.s "course"' train-repr --ldm "$R2" --preset course --quiet --out "$WORK/bad"
# A RUN2 whose checkpoint is not a UNet (stage 1's, in its place).
cp -r "$R2" "$WORK/wrong" && cp "$WORK/run1/checkpoints/last.safetensors" "$WORK/wrong/checkpoints/last.safetensors"
expect 1 "load_frozen_unet: .*wrong/checkpoints/last.safetensors: the frozen UNet does not match the file \\(prefix 'ema.'\\)" \
  train-repr --ldm "$WORK/wrong" --preset tiny --quiet --out "$WORK/bad"
expect 2 "unknown setting 'epoch'.*known: seed" "${TRAIN[@]}" --out "$WORK/bad" --set epoch=2
expect 2 "'val_x0_clamp' \(string\) must be one of" "${TRAIN[@]}" --out "$WORK/bad" --set val_x0_clamp=always
expect 2 "'lr' \(float\) must be" "${TRAIN[@]}" --out "$WORK/bad" --set lr=-1
expect 1 'batch_size 64 is larger than the training split' "${TRAIN[@]}" --out "$WORK/bad" --set batch_size=64
[ ! -e "$WORK/bad" ] && ok "nothing written for refused runs" || fail "a refused run created its folder"
expect 1 'settings.lr: in the folder 0.001, now 0.002' "${TRAIN[@]}" --out "$A" --set lr=0.002
expect 0 'ema_per_batch' train-repr --help
expect 0 '"val_ddim_steps": 100' train-repr --list-settings --preset paper

t_end=$(now)
echo "time: whole test $(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') s"
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
