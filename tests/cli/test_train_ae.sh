#!/usr/bin/env bash
# Stage 1, `ldae train-ae`, end to end at the tiny preset on a tiny synthetic cohort:
#   - a run writes its folder (config.json saying the perceptual term is off, log.csv,
#     checkpoints, figures, done.json) and the validation L1 goes down;
#   - the same command again says the run is complete;
#   - kill -9 at a random step, then the same command: the final checkpoints and log.csv
#     are byte-identical to the uninterrupted run's;
#   - --stop-after-epoch 1, then the same command with --continue: byte-identical too;
#   - a NaN loss stops the run naming the step and keeps the last good checkpoint;
#   - bad settings (unknown key, wrong type, out of range), a volume size the networks do
#     not take, an unwritable folder, a different configuration in the folder and a bad
#     --lpips file are refused before any training.
# Usage: test_train_ae.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_train_ae.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
# One thread unless told otherwise: the tiny networks gain nothing from more, and on a
# loaded machine OpenMP threads that wait for each other made a run 15x slower. (The
# results are the same bits with any thread count.)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 8 subjects x 2 visits of 16x20x16 (the tiny preset's image): 12 training scans after the
# split, 6 optimizer steps per epoch (accumulate 2), 3 epochs.
"$LDAE" synth --out "$WORK/cohort" --subjects 8 --shape 16,20,16 --visits 0,12 --phantom --no-overview \
  --seed 3 > /dev/null 2>&1 || { echo "FAIL: ldae synth"; exit 1; }
M="$WORK/cohort/manifest.csv"
TRAIN=(train-ae --data "$M" --preset tiny --quiet)

# ---- An uninterrupted run ----
t0=$(now)
expect 0 'validation L1 [0-9.e-]+, PSNR' "${TRAIN[@]}" --out "$WORK/a"
t1=$(now)
echo "time: uninterrupted tiny train-ae run $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
A="$WORK/a"
for f in config.json log.csv done.json checkpoints/last.safetensors checkpoints/best.safetensors \
         figures/epoch_001.png figures/epoch_003.png; do
  [ -s "$A/$f" ] && ok "run folder holds $f" || fail "run folder lacks $f"
done
grep -q '"perceptual": "off (no --lpips file)"' "$A/config.json" && ok "config.json says the perceptual term is off" \
  || fail "config.json does not say the perceptual term is off"
grep -q '"faithful_disc_grad_leak": false' "$A/config.json" && ok "config.json holds every setting" \
  || fail "config.json lacks the settings"
head -1 "$A/log.csv" | grep -q '^step,epoch,loss_g,l1,kl,perceptual,g_adv,loss_d' && ok "log.csv header" \
  || fail "log.csv header: $(head -1 "$A/log.csv")"
# 18 step rows + 3 validation rows.
rows=$(($(wc -l < "$A/log.csv") - 1))
[ "$rows" -eq 21 ] && ok "log.csv has 18 step rows and 3 validation rows" || fail "log.csv has $rows rows, want 21"
# The validation L1 (column val_l1) goes down from the first epoch to the last.
vals=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "val_l1") c = i; next } $c != "" { print $c }' "$A/log.csv")
first=$(echo "$vals" | head -1)
last=$(echo "$vals" | tail -1)
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'; then ok "validation L1 falls: $first -> $last"
else fail "validation L1 does not fall: $first -> $last"; fi
expect 0 'already complete' "${TRAIN[@]}" --out "$A"
expect 0 'model.autoencoder.encoder' ckpt info "$A/checkpoints/last.safetensors"

# ---- kill -9 at a random step, then the same command ----
B="$WORK/b"
target=$((RANDOM % 8 + 3))  # kill once log.csv has this many rows (of 21)
kill_during_run "$B" "$target" 10 "${TRAIN[@]}" --out "$B"
t0=$(now)
expect 0 'steps \([0-9]+ in this run\)' "${TRAIN[@]}" --out "$B"
t1=$(now)
echo "time: resumed tiny train-ae run $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
expect_same_files "$A" "$B" checkpoints/last.safetensors checkpoints/best.safetensors log.csv

# ---- --stop-after-epoch, then --continue: the uninterrupted run's files (the learning rate's
# cosine decay is planned over all 3 epochs from the start) ----
expect 0 'stopped early: --stop-after-epoch 1 of 3' "${TRAIN[@]}" --out "$WORK/c" --stop-after-epoch 1
expect 0 "continuing $WORK/c from step 6 \(epoch 2, batch 0\)" "${TRAIN[@]}" --out "$WORK/c" --continue
expect_same_files "$A" "$WORK/c" checkpoints/last.safetensors checkpoints/best.safetensors log.csv done.json

# ---- A NaN loss stops the run and keeps the last good checkpoint ----
expect 1 'generator loss is NaN at step 4 .*last good checkpoint.*last.safetensors \(step 3\)' \
  "${TRAIN[@]}" --out "$WORK/nan" --set debug_nan_at_step=4
expect 0 'step 3' ckpt info "$WORK/nan/checkpoints/last.safetensors"
[ ! -f "$WORK/nan/done.json" ] && ok "no done.json after the NaN stop" || fail "done.json after a NaN stop"
expect 1 '(loss|gradient norm) is (NaN|[+-]infinity) at step [0-9]+' "${TRAIN[@]}" --out "$WORK/huge" --set lr_g=1e30 --set lr_d=1e30

# ---- The published discriminator-gradient leak and the adversarial warm-up ----
expect 0 'steps' "${TRAIN[@]}" --out "$WORK/leak" --set faithful_disc_grad_leak=true --set epochs=1
# The first step is the same (the leak reaches D's gradients in that step's D update, not
# the generator's loss); the D losses differ from the second step on.
row() { sed -n "$2p" "$1/log.csv"; }
[ "$(row "$A" 2 | cut -d, -f1-7)" = "$(row "$WORK/leak" 2 | cut -d, -f1-7)" ] && ok "leak: step 1's generator losses equal" \
  || fail "leak: step 1's generator losses differ"
[ "$(row "$A" 3 | cut -d, -f9)" != "$(row "$WORK/leak" 3 | cut -d, -f9)" ] && ok "leak: the discriminator's losses differ from step 2" \
  || fail "leak: faithful_disc_grad_leak=true changed nothing"
expect 0 'steps' "${TRAIN[@]}" --out "$WORK/warm" --set adv_warmup_steps=3 --set epochs=1
# Steps 1-3 without adversarial terms (g_adv, loss_d empty), step 4 with them.
awk -F, 'NR >= 2 && NR <= 4 && ($7 != "" || $8 != "") { bad = 1 } NR == 5 && ($7 == "" || $8 == "") { bad = 1 }
         END { exit bad }' "$WORK/warm/log.csv" && ok "warm-up: no adversarial terms in steps 1-3, then on" \
  || fail "warm-up: $(sed -n 2,5p "$WORK/warm/log.csv" | tr '\n' ' ')"

# ---- Refused before any work (no run folder is created) ----
expect 2 "unknown setting 'epoch'.*known: seed" "${TRAIN[@]}" --out "$WORK/bad1" --set epoch=2
expect 2 "'epochs' \(int\) must be an integer" "${TRAIN[@]}" --out "$WORK/bad1" --set epochs=1.5
expect 2 "'accumulate' \(int\) must be in \[1, 1024\]" "${TRAIN[@]}" --out "$WORK/bad1" --set accumulate=0
expect 2 "'faithful_disc_grad_leak' \(bool\) must be true or false" "${TRAIN[@]}" --out "$WORK/bad1" \
  --set faithful_disc_grad_leak=maybe
echo '{"epochs": "3"}' > "$WORK/bad.json"
expect 2 "--config .*bad.json: setting 'epochs' \(int\) must be an integer" "${TRAIN[@]}" --out "$WORK/bad1" \
  --config "$WORK/bad.json"
# --lpips: a missing file and a file that is not LPIPS weights (a valid one, the perceptual
# term, its resume and the size refusal: tests/unit/test_train_ae_lpips.cpp).
expect 1 'cannot use the --lpips file .*nothing.safetensors: no such file' "${TRAIN[@]}" --out "$WORK/bad1" \
  --lpips "$WORK/nothing.safetensors"
expect 1 'cannot use the --lpips file .*manifest.csv' "${TRAIN[@]}" --out "$WORK/bad1" --lpips "$M"
expect 1 'batch_size 64 is larger than the training split' "${TRAIN[@]}" --out "$WORK/bad1" --set batch_size=64
[ ! -e "$WORK/bad1" ] && ok "nothing written for refused settings" || fail "a refused run created its folder"
"$LDAE" synth --out "$WORK/odd" --subjects 4 --shape 15,20,16 --visits 0 --phantom --no-overview > /dev/null 2>&1
expect 1 'do not fit the autoencoder of preset tiny: each axis must be a multiple of 2' \
  train-ae --data "$WORK/odd/manifest.csv" --preset tiny --quiet --out "$WORK/bad2" --set val_fraction=0.3
[ ! -e "$WORK/bad2" ] && ok "nothing written for a size that does not fit" || fail "bad2 was created"
# A cohort with scans of two sizes (the 4 odd subjects cannot all be in the test split).
{
  head -1 "$M"
  awk -F, -v OFS=, -v d="$WORK/cohort/" 'NR > 1 { $2 = d $2; print }' "$M"
  awk -F, -v OFS=, -v d="$WORK/odd/" 'NR > 1 { sub(/^sub/, "odd", $1); $2 = d $2; print }' "$WORK/odd/manifest.csv"
} > "$WORK/mixed.csv"
expect 1 'has shape \(15, 20, 16\) but .* has \(16, 20, 16\); every scan must have the same size' \
  train-ae --data "$WORK/mixed.csv" --preset tiny --quiet --out "$WORK/bad3"
expect 1 'holds a run with a different configuration, so it cannot be resumed' "${TRAIN[@]}" --out "$A" --set lr_g=0.002
expect 1 'settings.lr_g: in the folder 0.001, now 0.002' \
  "${TRAIN[@]}" --out "$A" --set lr_g=0.002
cmp -s "$A/checkpoints/last.safetensors" "$B/checkpoints/last.safetensors" && ok "the refused run left the folder alone" \
  || fail "the refused run changed the folder"
# A folder that cannot be created (its parent is a file; refused for root too), and one
# without write permission (only checkable when not root).
expect 1 'run folder .*manifest.csv/run: cannot create' "${TRAIN[@]}" --out "$M/run"
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$WORK/ro" && chmod 555 "$WORK/ro"
  expect 1 'run folder .*/ro/run: cannot create' "${TRAIN[@]}" --out "$WORK/ro/run"
else
  echo "skip: unwritable folder (running as root)"
fi
expect 0 'faithful_disc_grad_leak' train-ae --help
expect 0 'tools/convert_lpips.py' train-ae --help
expect 0 '"adv_warmup_steps": 5' train-ae --list-settings --preset paper --set adv_warmup_steps=5

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
