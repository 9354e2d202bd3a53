"""How much of stage 3's loss a semantic code could explain at best, on a demo's latent cache.

A check on the training stages, not part of the program. Stage 3 (PDAE) trains the shift branch
on the weighted eps-prediction loss

    L = E_t [ lambda_t * mean (eps - eps_hat(z_t, t, code))^2 ],   lambda_t = SNR_t^0.1 / (1 + SNR_t)

A denoiser without a code can at best predict eps from z_t alone; one with a perfect code of the
scan knows z0 and predicts eps exactly. So the loss an ideal code-free denoiser leaves is the most
that any code can remove. With z0 = mu + delta, delta ~ N(0, C) (mu and C: the mean and covariance
of the cache's scaled latents, a Gaussian approximation), that loss is, per t,

    Var(eps | z_t) = (1/n) sum_i SNR_t l_i / (SNR_t l_i + 1)     (l_i: eigenvalues of C, n: size of z0)

averaged over t in 0..999 of the linear schedule (beta 1e-4 to 0.02), with and without lambda_t.
Printed: the energy of the latents, the part that differs between scans (and between subjects),
these ideal losses, the same if delta were independent per element, and (with --centred) for
latents centred on mu and scaled to unit between-scan variance. Compare the weighted ideal with
train-repr's `swap_loss_none` (what the frozen stage-2 UNet leaves) and the unweighted one with
train-ldm's `val_mse`.

Usage (python3 with numpy, e.g. Debian's /usr/bin/python3), on a finished `ldae demo` folder:

    /usr/bin/python3 docs/analysis/code_ceiling.py out/demo
"""
import collections
import csv
import json
import os
import sys

import numpy as np

from latent_ridge import read_safetensors  # the cache's latent files, flattened to float64


def ideal_losses(eigenvalues, n):
    """(unweighted, lambda-weighted) loss of the best code-free eps-prediction, mean over t."""
    betas = np.linspace(1e-4, 0.02, 1000)
    alpha_bar = np.cumprod(1.0 - betas)
    snr = alpha_bar / (1.0 - alpha_bar)
    weight = snr ** 0.1 / (1.0 + snr)
    per_t = np.array([(s * eigenvalues / (s * eigenvalues + 1.0)).sum() / n for s in snr])
    return per_t.mean(), (weight * per_t).mean()


def main(demo):
    cache = os.path.join(demo, "latents")
    with open(os.path.join(cache, "latents.json")) as f:
        scale = float(json.load(f)["scale_factor"])
    rows = list(csv.DictReader(open(os.path.join(cache, "manifest.csv"))))
    z = np.array([read_safetensors(os.path.join(cache, r["latent_path"])) for r in rows]) * scale
    n = z.shape[1]
    delta = z - z.mean(axis=0)
    by_subject = collections.defaultdict(list)
    for i, r in enumerate(rows):
        by_subject[r["subject"]].append(i)
    subject_means = np.array([z[idx].mean(axis=0) for idx in by_subject.values()])
    print(f"{len(rows)} scans of {len(by_subject)} subjects, scaled latents of {n} numbers")
    print(f"mean square of z0:             {np.mean(z ** 2):.5f}")
    print(f"between-scan variance:         {np.mean(delta ** 2):.6f} "
          f"({np.mean(delta ** 2) / np.mean(z ** 2):.2%} of the energy)")
    print(f"between-subject variance:      {subject_means.var(axis=0).mean():.6f}")
    # Eigenvalues of the scans' covariance, from the singular values of the centred scans.
    eigenvalues = np.linalg.svd(delta, compute_uv=False) ** 2 / len(rows)
    total = eigenvalues.sum()
    k90 = int(np.searchsorted(np.cumsum(eigenvalues) / total, 0.9)) + 1
    print(f"components holding 90% of it:  {k90}")
    for name, ev in [("scaled latents (as trained)", eigenvalues),
                     ("same variance, independent per element", np.full(n, total / n)),
                     ("centred, unit between-scan variance", eigenvalues / (total / n))]:
        unweighted, weighted = ideal_losses(ev, n)
        print(f"ideal code-free loss, {name}: unweighted {unweighted:.5f}, weighted {weighted:.5f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
