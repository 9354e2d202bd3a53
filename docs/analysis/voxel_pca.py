"""Which of a synthetic cohort's largest voxel patterns carry the ground truth.

A check on the demo's cohort, not part of the program. The semantic encoder learns the largest
differences between scans first (on the default cohort its codes read out the head size: docs/results.md),
so whether the disease is among the cohort's largest patterns says what a briefly trained encoder can
pick up.

Usage (the cohort from `ldae synth`; python3 with numpy, e.g. Debian's /usr/bin/python3):

    ldae synth --out /tmp/c --subjects 120 --seed 0 --diagnosis-mix 0.45,0.20,0.35 --preprocessed --no-overview
    /usr/bin/python3 docs/analysis/voxel_pca.py /tmp/c/manifest.csv

What it does: every scan of the manifest (all diagnoses, all visits), each min-max scaled to [0, 1] as
the networks see it, every voxel z-scored over all scans; principal components from the scans' Gram
matrix. Printed for the 8 largest: the share of the total variance, the correlation of the scans'
scores with each ground-truth column, and the AD-vs-CN AUC of the scores (AD and CN scans; a
component's sign is arbitrary, so the larger of AUC and 1 - AUC).
"""
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from voxel_ridge import auc, read_nifti  # noqa: E402  (the sibling script's reader and AUC)

TRUTH = ('severity', 'age', 'hippocampus_ml', 'ventricle_ml', 'gm_ml')
COMPONENTS = 8


def main(manifest):
    folder = os.path.dirname(manifest)
    rows = list(csv.DictReader(open(manifest)))
    x = np.stack([read_nifti(os.path.join(folder, r['path'])) for r in rows]).astype(np.float64)  # (scans, voxels)
    x -= x.mean(0)
    std = x.std(0)
    x /= np.where(std > 0, std, 1)  # constant voxels (outside every brain) stay 0
    eigenvalues, vectors = np.linalg.eigh(x @ x.T)  # the Gram matrix shares the nonzero eigenvalues
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = eigenvalues[order], vectors[:, order]  # vectors[:, k]: scores of component k (unit norm)
    truth = {c: np.array([float(r[c]) for r in rows]) for c in TRUTH}
    diagnosis = np.array([r['diagnosis'] for r in rows])
    ad_or_cn = (diagnosis == 'AD') | (diagnosis == 'CN')
    print(f'{len(rows)} scans, {x.shape[1]} voxels')
    for k in range(min(COMPONENTS, len(rows))):
        score = vectors[:, k]
        r = ', '.join(f'{c} {np.corrcoef(score, truth[c])[0, 1]:+.2f}' for c in TRUTH)
        a = auc(score[ad_or_cn], diagnosis[ad_or_cn] == 'AD') if ad_or_cn.any() else float('nan')
        print(f'component {k + 1}: {100 * eigenvalues[k] / eigenvalues.sum():.1f} % of the variance; '
              f'correlation with {r}; AD vs CN AUC {max(a, 1 - a):.3f}')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
