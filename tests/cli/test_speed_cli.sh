#!/usr/bin/env bash
# `ldae speed`: --help, the tiny comparison with fresh weights (table on stdout, the JSON of
# ldae/speed_eval.h with --out), and bad input (unknown preset, bad step list, no preset).
# The times themselves are never checked (they depend on the machine and its load).
# Usage: test_speed_cli.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_speed_cli.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

expect 0 'image-space diffusion autoencoder' speed --help
expect 0 '\| one volume, 10 \+ 10 \|' speed --preset tiny --steps 10,20 --repetitions 1 --out "$WORK/speed.json" --quiet
python3 - "$WORK/speed.json" <<'PY' && echo "ok:   speed.json has the documented keys" \
  || { echo "FAIL: speed.json lacks keys"; failures=$((failures + 1)); }
import json, sys
s = json.load(open(sys.argv[1]))
need = ["summary", "method", "note", "weights", "machine", "image_shape", "latent_shape", "macs", "components_s",
        "ldae", "image_dae", "ratio_per_step", "per_volume", "paper_ratio", "table"]
ok = all(k in s for k in need) and sorted(s["per_volume"]) == ["10", "20"]
ok = ok and s["macs"]["image_dae_step"] > s["macs"]["ldae_step"] > 0 and s["image_shape"] == [1, 1, 16, 20, 16]
ok = ok and "freshly initialised" in s["weights"] and s["ldae"]["per_step_s"] > 0
sys.exit(0 if ok else 1)
PY
expect 2 'preset' speed --preset huge
expect 2 'steps' speed --preset tiny --steps 10,x
expect 2 'preset' speed
expect 1 'no such|not|missing' speed --repr "$WORK/no-run"

if [ "${failures:-0}" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all speed checks passed"
