#!/usr/bin/env bash
# --device on the commands that train or time networks (train-ae, train-ldm, train-repr,
# demo, speed): a name that is not a device is a usage error (exit 2); a GPU this program or
# machine cannot use is refused with the reason (exit 1) before any work, so nothing is
# written; `--device cpu` is the default and runs as before. Training on a GPU itself is
# tests/cuda/test_cuda_stages.cpp (label cuda).
# Usage: test_device.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_device.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

for cmd in train-ae train-ldm train-repr demo speed; do
  expect 0 'cpu, cuda \(the first GPU\) or cuda:N' "$cmd" --help
  expect 2 'unknown device "tpu" \(valid: cpu, cuda, cuda:N\)' "$cmd" --device tpu
  expect 2 'unknown device "cuda:x"' "$cmd" --device cuda:x
done

# A GPU index no machine here has: refused by every command, naming the device, before the
# inputs are even read (the paths below do not exist) and before anything is written.
expect 1 'train-ae: cannot use cuda:7' train-ae --data "$WORK/none.csv" --out "$WORK/r1" --device cuda:7
expect 1 'train-ldm: cannot use cuda:7' train-ldm --latents "$WORK/none" --out "$WORK/r2" --device cuda:7
expect 1 'train-repr: cannot use cuda:7' train-repr --ldm "$WORK/none" --out "$WORK/r3" --device cuda:7
expect 1 'demo: cannot use cuda:7' demo --preset tiny --out "$WORK/demo" --device cuda:7 --quiet
expect 1 'speed: cannot use cuda:7' speed --preset tiny --device cuda:7 --quiet
for d in r1 r2 r3 demo; do
  if [ -e "$WORK/$d" ]; then fail "the refused command created $WORK/$d"; else ok "nothing written for $d"; fi
done

# --device cpu: the default, recorded as such.
expect 0 'One DDIM step' speed --preset tiny --steps 1 --repetitions 1 --device cpu --out "$WORK/speed.json" --quiet
python3 - "$WORK/speed.json" <<'PY' && ok "speed.json records machine.device cpu" || fail "speed.json machine.device"
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["machine"]["device"] == "cpu" else 1)
PY

if [ "${failures:-0}" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all device checks passed"
