#!/usr/bin/env bash
# Stage 3 for as long as a time budget allows, then what its semantic codes carry.
#
# The question (docs/results.md, "Stage 3 for longer, and codes the branch can see" and "The
# code standardiser as a setting"): on the CPU, thirty epochs of stage 3 with the codes
# standardised and centred on the micro-batch (code_norm=batch) made the shift branch use the
# code (swap_share 0.09) while the codes still carried only the brain's size. Do many more
# steps, as a GPU allows, make them carry the disease? This script runs the chain with time
# limits instead of epoch counts (`--time-limit`, so that it fits a lent GPU's minutes):
#
#   1. the cohort, stage 1 and the latent cache, as the demo at PRESET (`ldae demo` prints the
#      same commands);
#   2. stage 2 for LDM_EPOCHS epochs, or fewer: the first epoch that ends past LDM_MIN minutes
#      is its last;
#   3. stage 3 with REPR_SETS for REPR_EPOCHS epochs, or fewer by REPR_MIN minutes the same way;
#   4. y_sem of every scan (`ldae encode --no-xT`), the AD-vs-CN and age probes (`ldae probe`)
#      and, with numpy, the ridge read-out of the ground truth (code_ridge.py).
#
# Usage: bash docs/analysis/long_stage3.sh LDAE OUT [DEVICE]
#   LDAE    the ldae program; OUT a new folder; DEVICE cpu (default) or cuda.
#   Environment (defaults in brackets): PRESET [course], SEED [0], COHORT_FLAGS [none; e.g.
#   --preprocessed], LDM_EPOCHS [48], LDM_MIN [2], REPR_EPOCHS [400], REPR_MIN [4],
#   REPR_SETS ["code_norm=batch batch_size=4"], PYTHON [python3].
# Writes OUT/summary.txt (every number it prints) beside the run folders; each stage's done.json
# says how many epochs it trained and the --stop-after-epoch K that repeats it without a clock
# (0 minutes: no limit). The encoding, probes and ridge read-out run on the CPU.
# KEEP=DIR (optional) copies the few files worth keeping into DIR: summary.txt, stages 2 and 3's
# log.csv and done.json, and the probes' probe.json (6 files; the device tool returns at most 8 of
# $OUT, so on a lent GPU: KEEP=$OUT bash docs/analysis/long_stage3.sh LDAE /tmp/long cuda).
set -euo pipefail
LDAE=${1:?usage: long_stage3.sh LDAE OUT [DEVICE]}
DIR=${2:?usage: long_stage3.sh LDAE OUT [DEVICE]}
DEVICE=${3:-cpu}
PRESET=${PRESET:-course} SEED=${SEED:-0} COHORT_FLAGS=${COHORT_FLAGS:-}
LDM_EPOCHS=${LDM_EPOCHS:-48} LDM_MIN=${LDM_MIN:-2}
REPR_EPOCHS=${REPR_EPOCHS:-400} REPR_MIN=${REPR_MIN:-4}
REPR_SETS=${REPR_SETS:-code_norm=batch batch_size=4}
PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"
summary="$DIR/summary.txt"
say() { echo "$*" | tee -a "$summary"; }
elapsed() { echo $(($(date +%s) - $1)); }

# The demo's cohort and stage-1 split at this preset (ldae/demo.cpp: demo_cohort, demo_split).
case "$PRESET" in
  course) cohort=(--subjects 120 --shape 64,80,64 --diagnosis-mix 0.45,0.20,0.35)
          split=(--set split_stratify=true --set test_fraction=0.67 --set val_fraction=0.25) ;;
  tiny)   cohort=(--subjects 16 --shape 16,20,16)
          split=(--set split_stratify=true --set test_fraction=0.2 --set val_fraction=0.15) ;;
  *) echo "PRESET must be course or tiny" >&2; exit 2 ;;
esac
repr_sets=()
for s in $REPR_SETS; do repr_sets+=(--set "$s"); done

say "long_stage3.sh: preset $PRESET, seed $SEED, device $DEVICE, cohort flags '${COHORT_FLAGS}',"
say "  stage 2: $LDM_EPOCHS epochs or $LDM_MIN min; stage 3: $REPR_EPOCHS epochs or $REPR_MIN min, settings '$REPR_SETS'"
say "  source: $(cd "$here" && git describe --always --dirty 2>/dev/null || echo unknown); $(date -u '+%Y-%m-%d %H:%M UTC')"

t=$(date +%s)
# shellcheck disable=SC2086  # COHORT_FLAGS: zero or more flags
"$LDAE" synth --out "$DIR/cohort" --seed "$SEED" --visits 0,6,12,24 "${cohort[@]}" $COHORT_FLAGS --no-overview \
  > "$DIR/synth.log" 2>&1
"$LDAE" train-ae --data "$DIR/cohort/manifest.csv" --out "$DIR/runs/1-autoencoder" --preset "$PRESET" \
  --set seed="$SEED" "${split[@]}" --device "$DEVICE" --quiet > "$DIR/train_ae.log" 2>&1
"$LDAE" cache-latents --ae "$DIR/runs/1-autoencoder" --out "$DIR/latents" --quiet > "$DIR/cache.log" 2>&1
say "cohort, stage 1, latent cache: $(elapsed "$t") s"

t=$(date +%s)
"$LDAE" train-ldm --latents "$DIR/latents" --out "$DIR/runs/2-ldm" --preset "$PRESET" --set seed="$SEED" \
  --set epochs="$LDM_EPOCHS" --time-limit "$LDM_MIN" --device "$DEVICE" --quiet 2>&1 | tee "$DIR/train_ldm.log" \
  | tail -2 | tee -a "$summary"
say "stage 2: $(elapsed "$t") s"

t=$(date +%s)
"$LDAE" train-repr --ldm "$DIR/runs/2-ldm" --out "$DIR/runs/3-repr" --preset "$PRESET" --set seed="$SEED" \
  --set epochs="$REPR_EPOCHS" "${repr_sets[@]}" --time-limit "$REPR_MIN" --device "$DEVICE" --quiet 2>&1 \
  | tee "$DIR/train_repr.log" | tail -2 | tee -a "$summary"
say "stage 3: $(elapsed "$t") s"
# Every fifth epoch's code-swap check and spread, from log.csv's validation rows.
say "stage 3 by epoch (epoch, val y_sem-only SSIM, y_sem_spread, swapped - own, swap_share):"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         $c["val_ssim"] != "" && ($c["epoch"] % 5 == 0 || $c["epoch"] == 1) {
           printf "  %d %s %s %.3g %s\n", $c["epoch"], $c["val_ssim"], $c["y_sem_spread"],
                  $c["swap_loss_swapped"] - $c["swap_loss_own"], $c["swap_share"] }' \
  "$DIR/runs/3-repr/log.csv" | tee -a "$summary"

t=$(date +%s)
"$LDAE" encode --run "$DIR/runs/3-repr" --data "$DIR/latents/manifest.csv" --out "$DIR/encoded" --no-xT \
  > "$DIR/encode.log" 2>&1
"$LDAE" probe --features "$DIR/encoded/features.csv" --out "$DIR/probe" --seed "$SEED" > "$DIR/probe.log" 2>&1
say "probes (y_sem of every scan, $(elapsed "$t") s):"
"$PYTHON" - "$DIR/probe/probe.json" <<'PY' | tee -a "$summary"
import json, sys
p = json.load(open(sys.argv[1]))
c, a = p['classification'], p['age']
ci = lambda d, k: '[%.3f, %.3f]' % (d['intervals'][k]['low'], d['intervals'][k]['high'])
print('  AD vs CN: AUC %.3f %s on %d test subjects; age: MAE %.2f %s years' % (
    c['test']['auc'], ci(c, 'auc'), c['test']['subjects'], a['test']['mae'], ci(a, 'mae')))
PY
if "$PYTHON" -c 'import numpy' 2> /dev/null; then
  say "what y_sem carries (code_ridge.py: out-of-fold R^2 at three penalties):"
  "$PYTHON" "$here/code_ridge.py" "$DIR/encoded/features.csv" "$DIR/cohort/manifest.csv" | sed 's/^/  /' \
    | tee -a "$summary"
else
  say "no numpy for $PYTHON: code_ridge.py not run"
fi
say "done; summary in $summary"
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$summary" "$KEEP/summary.txt"
  for stage in 2-ldm 3-repr; do
    cp "$DIR/runs/$stage/log.csv" "$KEEP/log_$stage.csv"
    cp "$DIR/runs/$stage/done.json" "$KEEP/done_$stage.json"
  done
  cp "$DIR/probe/probe.json" "$KEEP/probe.json"
fi
