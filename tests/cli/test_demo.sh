#!/usr/bin/env bash
# `ldae demo --preset tiny`, the whole pipeline end to end (the README's main job at CI size):
#   - it writes report.md, report.html, results.json, features.csv and timing.json, and
#     results.json holds the keys the report promises;
#   - running it again finds every stage complete and writes the same results.json
#     (timings aside);
#   - a second demo with the same seed in another folder gives the same results.json
#     (timings aside): same seed, same thread count, same numbers;
#   - the image-space DAE baseline (on by default at tiny) is trained next to the other runs and
#     evaluated with the same probes (baselines.image_dae);
#   - the commands the report prints, run one by one, reproduce features.csv and results.json
#     (timings aside), the manipulation's ground truth included (cohort.json from `ldae synth`);
#   - `ldae report` rebuilds the same report.md from results.json, which leads with the paper's
#     relations; tools/readme_table.py prints the README's key table from it;
#   - `ldae evaluate --supervised-epochs N` trains the supervised baseline for at most N
#     epochs instead of the preset's budget (and refuses 0);
#   - --help works and a bad preset is a usage error, as are --registered and --preprocessed
#     together; a folder holding the default cohort refuses a --preprocessed run.
# Usage: test_demo.sh /path/to/ldae
set -u
LDAE=${1:?usage: test_demo.sh /path/to/ldae}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/expect.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# results.json without its "timing" object and without "speed" (wall times differ from run to
# run; the file is indented two spaces per level, one key per line; "timing" holds only
# numbers, so it ends at the first '}'; the top-level "speed" object ends at the first line
# that is exactly two spaces and '}').
without_timing() { sed -e '/"timing": {/,/}/d' -e '/^  "speed": {/,/^  },\{0,1\}$/d' "$1"; }

expect 0 'whole LDAE pipeline' demo --help
expect 2 'preset' demo --preset huge --out "$WORK/x"
expect 0 'preprocessed' demo --help
expect 2 'excludes' demo --registered --preprocessed --out "$WORK/x"

t0=$(now)
expect 0 'demo finished' demo --preset tiny --seed 5 --out "$WORK/a" --quiet
t1=$(now)
echo "time: tiny demo $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
A="$WORK/a"
for f in report.md report.html results.json features.csv timing.json evaluation/reconstructions.png \
         runs/1-autoencoder/done.json latents/latents.json runs/2-ldm/done.json runs/3-repr/done.json \
         latents-image/latents.json runs/2-image-ldm/done.json runs/3-image-repr/done.json \
         evaluation/reconstructions_image_dae.png; do
  [ -s "$A/$f" ] && ok "demo wrote $f" || fail "demo did not write $f"
done
for key in '"vae"' '"ssim"' '"encoded"' '"semantic_only"' '"unconditional"' '"probe"' '"ad_vs_cn"' '"auc"' \
           '"mcc"' '"age"' '"mae"' '"rmse"' '"baselines"' '"pca_latents"' '"oracle_hippocampus"' '"timing"' \
           '"train_ae_s"' '"train_ldm_s"' '"train_repr_s"' '"ratio_per_step"' '"per_volume"' '"image_dae"' '"mean_age"' \
           '"image_dae_train_ldm_s"' '"image_dae_train_repr_s"' '"evaluate_image_dae_s"'; do
  grep -q "$key" "$A/results.json" && ok "results.json has $key" || fail "results.json lacks $key"
done
# Another cohort in the same folder is refused before anything is written.
expect 1 'holds another cohort' demo --preset tiny --seed 5 --out "$WORK/a" --preprocessed --quiet
# The manipulation experiment ran (a synthetic cohort with cohort.json): a table, not skipped.
python3 - "$A/results.json" <<'PY' && ok "results.json has manipulation with a table" \
  || fail "results.json: manipulation skipped or without a table"
import json, sys
m = json.load(open(sys.argv[1]))["manipulation"]
sys.exit(0 if "table" in m and "skipped" not in m and len(m["table"]) >= 6 and m["table"][1][0] == "-2" else 1)
PY
# The summary claims an effect only where the checks measured one (no "grows with |alpha|" for
# changes below the threshold).
python3 - "$A/results.json" <<'PY' && ok "manipulation summary agrees with its measurable checks" \
  || fail "manipulation summary claims an effect its checks call unmeasurable (or the checks are missing)"
import json, sys
m = json.load(open(sys.argv[1]))["manipulation"]
c, text = m["checks"], m["summary"]
ok = True
for region, name in (("ventricle", "Ventricle region"), ("hippocampus", "Hippocampal region")):
    part = text.split(name + ": ", 1)[1]
    ok = ok and part.startswith("no measurable change") == (not c[region + "_measurable"])
sys.exit(0 if ok else 1)
PY
# The image PCA baseline ran on the images (not skipped) and is summarised like the probes.
python3 - "$A/results.json" <<'PY' && ok "results.json has baselines.pca_images with an AUC" \
  || fail "results.json: baselines.pca_images is skipped, lacks ad_vs_cn.auc / age.mae or its description"
import json, math, sys
b = json.load(open(sys.argv[1]))["baselines"]["pca_images"]
ok = "skipped" not in b and 0 <= b["ad_vs_cn"]["auc"] <= 1 and math.isfinite(b["age"]["mae"])
sys.exit(0 if ok and b["description"].endswith("of the images") else 1)
PY
# The supervised 2.5D encoder baseline ran and is summarised like the probes.
python3 - "$A/results.json" <<'PY' && ok "results.json has baselines.supervised.ad_vs_cn.auc" \
  || fail "results.json: the supervised baseline is skipped or lacks ad_vs_cn.auc / age.mae"
import json, math, sys
b = json.load(open(sys.argv[1]))["baselines"]["supervised"]
ok = "skipped" not in b and 0 <= b["ad_vs_cn"]["auc"] <= 1 and math.isfinite(b["age"]["mae"])
sys.exit(0 if ok else 1)
PY
# The image-space DAE baseline ran: its probes like the others, its reconstructions of a test scan.
python3 - "$A/results.json" <<'PY' && ok "results.json has baselines.image_dae with probes and reconstructions" \
  || fail "results.json: the image DAE baseline is skipped or lacks ad_vs_cn.auc / age.mae / reconstruction"
import json, math, sys
b = json.load(open(sys.argv[1]))["baselines"]["image_dae"]
ok = "skipped" not in b and 0 <= b["ad_vs_cn"]["auc"] <= 1 and math.isfinite(b["age"]["mae"])
ok = ok and all(math.isfinite(b["reconstruction"][m]["20"]["ssim"]) for m in ("encoded", "semantic_only"))
sys.exit(0 if ok else 1)
PY
# In image space the default sampler clamps x0 to [-1, 1], so every reconstruction is an image
# in [0, 1] and its MSE against a [0, 1] scan is at most 1 (without the clamp the y_sem-only and
# unconditional samples of the tiny demo had MSE 1495 and 4422).
python3 - "$A/results.json" <<'PY' && ok "the image DAE's reconstructions stay in the data range (MSE <= 1)" \
  || fail "an image DAE reconstruction has MSE > 1: the image-space x0 clamp did not apply"
import json, sys
r = json.load(open(sys.argv[1]))["baselines"]["image_dae"]["reconstruction"]
sys.exit(0 if all(r[m]["20"]["mse"] <= 1.0 for m in ("encoded", "semantic_only", "unconditional")) else 1)
PY
grep -q 'image-space DAE, encoded x_T' "$A/report.md" && ok "report.md has the image DAE's reconstructions" \
  || fail "report.md lacks the image DAE's reconstruction rows"
[ -s "$A/evaluation/supervised/supervised.json" ] && ok "demo wrote evaluation/supervised/supervised.json" \
  || fail "no evaluation/supervised/supervised.json"
[ -s "$A/evaluation/manipulation.png" ] && ok "demo wrote evaluation/manipulation.png" || fail "no manipulation.png"
grep -q '"evaluation/manipulation.png"' "$A/results.json" && ok "the manipulation figure is listed" \
  || fail "results.json does not list manipulation.png"
head -1 "$A/features.csv" | grep -q '^subject,session,diagnosis,age,split,y0,y1' && ok "features.csv header" \
  || fail "features.csv header: $(head -1 "$A/features.csv")"
scans=$(($(wc -l < "$A/features.csv") - 1))
[ "$scans" -eq 64 ] && ok "features.csv has one row per scan (16 subjects x 4 visits)" || fail "features.csv has $scans rows"
grep -q 'LDAE, encoded x_T' "$A/report.md" && ok "report.md has the reconstruction table" || fail "report.md lacks it"
# tools/readme_table.py (the README's key table) reads this results.json: the autoencoder row
# carries the file's vae.ssim to three digits; a file that is not an evaluation's is refused.
vae=$(python3 -c 'import json, sys; print("%.3f" % json.load(open(sys.argv[1]))["vae"]["ssim"])' "$A/results.json")
python3 "$(dirname "$0")/../../tools/readme_table.py" "$A/results.json" > "$WORK/table.md" 2>&1 &&
  grep -q "^| autoencoder reconstruction | $vae (" "$WORK/table.md" && ok "readme_table.py prints the key table ($vae)" \
  || fail "readme_table.py: $(head -3 "$WORK/table.md")"
python3 "$(dirname "$0")/../../tools/readme_table.py" "$A/timing.json" > /dev/null 2>&1 \
  && fail "readme_table.py accepted timing.json" || ok "readme_table.py refuses a file that is not an evaluation's"
# The reconstruction budget: the autoencoder on every test scan; max(1, 400 / (4 steps)) scans
# at each step count (tiny), capped by the test split; each mode of a step count on the same scans.
python3 - "$A/results.json" <<'PY' && ok "reconstruction rows average the budget's number of test scans" \
  || fail "reconstruction scan counts differ from the tiny budget"
import json, sys
r = json.load(open(sys.argv[1]))
test = r["cohort"]["split"]["test"]
ok = r["vae"]["scans"] == test
for steps in (10, 20, 50, 100):
    want = min(test, max(1, 400 // (4 * steps)))
    ok = ok and all(r["ldae"][m][str(steps)]["scans"] == want for m in ("encoded", "semantic_only", "unconditional"))
sys.exit(0 if ok else 1)
PY
# The control of y_sem-only sampling: the same x_T draws with another test subject's code, on
# every scan of each step count that reconstructs scans of two or more subjects.
python3 - "$A/results.json" <<'PY' && ok "another subject's y_sem is sampled on the same scans as y_sem only" \
  || fail "ldae.other_subject_code is missing or on other scans than semantic_only"
import json, sys
l = json.load(open(sys.argv[1]))["ldae"]
multi = [s for s in l["semantic_only"] if l["semantic_only"][s]["scans"] >= 2]
ok = len(multi) > 0 and all(l["other_subject_code"][s]["scans"] == l["semantic_only"][s]["scans"] for s in multi)
ok = ok and all(s in multi for s in l["other_subject_code"])
sys.exit(0 if ok else 1)
PY
grep -q "LDAE, another subject's y_sem" "$A/report.md" && grep -q 'y_sem describes this scan' "$A/report.md" \
  && ok "report.md has the other-subject control and its relation" || fail "report.md lacks the other-subject control"
grep -q 'data:image/png;base64,' "$A/report.html" && ok "report.html embeds the figures" || fail "report.html has no figure"

# `ldae report DIR` rebuilds the same report from results.json alone; a folder without one is refused.
cp "$A/report.md" "$WORK/report_by_demo.md"
expect 0 'written from' report "$A"
cmp -s "$A/report.md" "$WORK/report_by_demo.md" && ok "ldae report: the same report.md from results.json" \
  || { fail "ldae report wrote another report.md"; diff "$A/report.md" "$WORK/report_by_demo.md" | head -10; }
grep -q "## The paper's relations on this run" "$A/report.md" && ok "report.md has the relations table" \
  || fail "report.md lacks the relations table"
expect 1 'error: report: cannot open' report "$WORK/no_such_folder"
mkdir -p "$WORK/bad_results"
printf '{bad' > "$WORK/bad_results/results.json"
expect 1 'error: report: .*results.json is not valid JSON' report "$WORK/bad_results"
printf '[1, 2]' > "$WORK/bad_results/results.json"
expect 1 'error: report: .*results.json is not a JSON object' report "$WORK/bad_results"
expect 2 'required' report

without_timing "$A/results.json" > "$WORK/a1.json"
# The rerun finds every stage done and ends with the readings of the relations table.
expect 0 "  - AD vs CN from y_sem \\(linear probe\\): not resolved" demo --preset tiny --seed 5 --out "$A" --quiet
grep -q '"train_ae_s"' "$A/results.json" && ok "the rerun keeps the stage timings" || fail "the rerun lost the timings"
without_timing "$A/results.json" > "$WORK/a2.json"
cmp -s "$WORK/a1.json" "$WORK/a2.json" && ok "rerun: same results.json (timings aside)" \
  || { fail "rerun changed results.json"; diff "$WORK/a1.json" "$WORK/a2.json" | head -20; }

expect 0 'demo finished' demo --preset tiny --seed 5 --out "$WORK/b" --quiet
# The commands in results.json name the output folder: compare with it renamed.
without_timing "$WORK/b/results.json" | sed "s|$WORK/b|$WORK/a|g" > "$WORK/b.json"
cmp -s "$WORK/a1.json" "$WORK/b.json" && ok "same seed in another folder: same results.json (timings aside)" \
  || { fail "same seed gave another results.json"; diff "$WORK/a1.json" "$WORK/b.json" | head -20; }

# The report's "How to reproduce" commands (results.json "commands", the `ldae demo` line aside),
# run one by one in another folder, give the same features.csv and results.json (timings, speed
# and the commands list aside; the folder renamed).
C="$WORK/c"
python3 - "$A/results.json" "$A" "$C" > "$WORK/commands.txt" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["commands"]:
    if not c.startswith("ldae demo "):
        print(c.replace(sys.argv[2], sys.argv[3]))
PY
[ "$(wc -l < "$WORK/commands.txt")" -ge 6 ] && ok "results.json prints the stage commands" \
  || fail "results.json has fewer than 6 stage commands"
while read -r line; do
  read -r -a words <<< "$line"  # the temporary folder's paths hold no spaces
  "$LDAE" "${words[@]:1}" < /dev/null > "$WORK/step.log" 2>&1 \
    || { fail "printed command failed: $line"; tail -5 "$WORK/step.log"; }
done < "$WORK/commands.txt"
cmp -s "$A/features.csv" "$C/features.csv" && ok "printed commands: same features.csv" \
  || fail "the printed commands gave another features.csv"
python3 - "$A/results.json" "$C/results.json" "$A" "$C" <<'PY' && ok "printed commands: same results.json (timings aside)" \
  || fail "the printed commands gave another results.json"
import json, sys
def load(path, folder):
    r = json.load(open(path))
    for key in ("timing", "speed", "commands"):
        r.pop(key, None)
    return json.dumps(r, sort_keys=True).replace(folder, "FOLDER")
a, c = load(sys.argv[1], sys.argv[3]), load(sys.argv[2], sys.argv[4])
if a != c:
    ka, kc = json.loads(a), json.loads(c)
    print("differ:", [k for k in sorted(set(ka) | set(kc)) if ka.get(k) != kc.get(k)])
sys.exit(0 if a == c else 1)
PY

# The supervised baseline's epoch budget: the preset's (tiny: 4) unless --supervised-epochs
# says otherwise; a budget below 1 is a usage error.
expect 2 'supervised-epochs' evaluate --repr "$A/runs/3-repr" --out "$WORK/e0" --supervised-epochs 0
expect 0 'results.json, report.md' evaluate --repr "$A/runs/3-repr" --out "$WORK/e1" --steps 10 \
  --max-reconstructions 1 --probe-epochs 2 --supervised-epochs 1 --quiet
python3 - "$A/results.json" "$WORK/e1/results.json" "$WORK/e1/evaluation/supervised/supervised.json" <<'PY' \
  && ok "evaluate --supervised-epochs 1: one epoch per task (the demo's default: 4)" \
  || fail "evaluate --supervised-epochs did not set the supervised baseline's epochs"
import json, sys
demo, one = (json.load(open(p))["baselines"]["supervised"]["description"] for p in sys.argv[1:3])
runs = json.load(open(sys.argv[3]))
epochs = [runs[t]["epochs_run"] for t in ("classification", "age")]
sys.exit(0 if "at most 4 epochs" in demo and "at most 1 epoch per task" in one and epochs == [1, 1] else 1)
PY

if [ "${failures:-0}" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all demo checks passed"
