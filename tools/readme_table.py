#!/usr/bin/env python3
"""Prints the README's key table ("what | ours | paper") from a demo's results.json.

Usage: /usr/bin/python3 tools/readme_table.py out/demo/results.json

Every number in the "ours" column is read from the file `ldae evaluate` (or `ldae demo`) wrote;
the "paper" column holds the published LDAE's numbers (ldae-reference.md, sections 7.7 and 8).
Only the standard library is used, so Debian's /usr/bin/python3 runs it as it is.
"""
import json
import sys


def get(results, dotted):
    """results["a"]["b"]... for "a.b..."; None when any part is missing."""
    node = results
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def f3(x):
    return "–" if x is None else f"{x:.3f}"


def f2(x):
    return "–" if x is None else f"{x:.2f}"


def signed4(x):
    return "–" if x is None else f"{x:+.4f}"


def ssim_and_scans(results, base):
    """'0.626 (8)': an SSIM and, in brackets, the number of test scans it rests on."""
    ssim, scans = get(results, base + ".ssim"), get(results, base + ".scans")
    if ssim is None:
        return "–"
    return f"{ssim:.3f} ({scans})" if scans is not None else f"{ssim:.3f}"


def auc_with_interval(results, base):
    auc, ci = get(results, base + ".auc"), get(results, base + ".auc_ci")
    if auc is None:
        return "–"
    return f"{auc:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{auc:.3f}"


def manipulation_at(results, alpha):
    """The mean change of the ventricle and hippocampal regions at `alpha` (vs alpha 0)."""
    for row in get(results, "manipulation.per_alpha") or []:
        if abs(row["alpha"] - alpha) < 1e-9:
            return row["ventricle_change"], row["hippocampus_change"]
    return None, None


def table(r):
    rows = [("what", "ours", "paper"), ("---", "---:", "---:")]
    rows.append(("autoencoder reconstruction", ssim_and_scans(r, "vae"), "0.962"))
    for name, key, paper in (("LDAE, encoded x_T", "encoded", "0.953 / 0.962"),
                             ("LDAE, y_sem only", "semantic_only", "0.872 / 0.869"),
                             ("unconditional model from the same noise", "unconditional", "–")):
        ours = " / ".join(ssim_and_scans(r, f"ldae.{key}.{s}") for s in (10, 100))
        rows.append((f"{name}, 10 / 100 DDIM steps", ours, paper))
    gaps = [g for g in ("12", "24") if get(r, f"interpolation.by_gap.{g}") is not None]
    if gaps:
        subjects = get(r, "interpolation.subjects")
        ours = " / ".join(f3(get(r, f"interpolation.by_gap.{g}.ldae_vs_autoencoder.ssim")) for g in gaps)
        rows.append((f"interpolated visit vs the autoencoder's reconstruction of it, {' / '.join(gaps)} months",
                     f"{ours} ({subjects} subjects)",
                     "0.956 / 0.930 (0.969 at 6 months, 0.93 at 24, linear between)"))
    ratio = get(r, "speed.per_volume.100.ratio")
    if ratio is not None:
        rows.append(("image-space DAE / LDAE time per volume, 100 + 100 DDIM steps", f"{ratio:.1f}x", "20x"))
    ventricle, hippocampus = manipulation_at(r, 2.0)
    calib = "manipulation.calibration.ad_minus_cn_baseline"
    if ventricle is not None:
        subjects = len(get(r, "manipulation.subjects") or [])
        rows.append(("manipulation towards AD at alpha +2: ventricle / hippocampal region "
                     f"(real AD - CN: {signed4(get(r, calib + '.ventricle'))} / "
                     f"{signed4(get(r, calib + '.hippocampus'))})",
                     f"{signed4(ventricle)} / {signed4(hippocampus)} ({subjects} subjects)", "figures only"))
    ad, cn = get(r, "probe.ad_vs_cn.test_subjects_AD"), get(r, "probe.ad_vs_cn.test_subjects_CN")
    rows.append((f"AD vs CN AUC, {ad} AD and {cn} CN test subjects: y_sem / PCA of the images / "
                 "the true hippocampal volume (oracle)",
                 f"{auc_with_interval(r, 'probe.ad_vs_cn')} / {f3(get(r, 'baselines.pca_images.ad_vs_cn.auc'))}"
                 f" / {auc_with_interval(r, 'baselines.oracle_hippocampus.ad_vs_cn')}",
                 "0.895 / – / –"))
    rows.append(("age MAE in years: y_sem / the mean training age",
                 f"{f2(get(r, 'probe.age.mae'))} / {f2(get(r, 'baselines.mean_age.age.mae'))}", "4.16 / –"))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: tools/readme_table.py path/to/results.json")
    try:
        with open(argv[1]) as f:
            results = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"readme_table.py: cannot read {argv[1]}: {e}")
    if get(results, "vae.ssim") is None or get(results, "probe.ad_vs_cn.auc") is None:
        sys.exit(f"readme_table.py: {argv[1]} is not a results.json of `ldae evaluate` (no vae.ssim or probe)")
    print(table(results))


if __name__ == "__main__":
    main(sys.argv)
