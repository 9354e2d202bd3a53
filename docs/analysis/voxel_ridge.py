"""How much AD-vs-CN signal a linear model finds in the voxels of a synthetic cohort.

A check on the demo's probes, not part of the program: if a linear model on the images
themselves cannot tell AD from CN, a linear probe on y_sem failing says more about the cohort
than about the encoder.

Usage (the cohort from `ldae synth`; python3 with numpy, e.g. Debian's /usr/bin/python3):

    ldae synth --out /tmp/syn300 --subjects 300 --seed 0 --no-overview
    /usr/bin/python3 docs/analysis/voxel_ridge.py /tmp/syn300/manifest.csv

What it does: AD and CN scans only (all visits). A fixed test split: 40 % of each diagnosis's
subjects (shuffled with seed 0). From the rest, training splits of growing size (the same
order, so each contains the smaller ones). Each scan min-max scaled to [0, 1] as the networks
see it, every voxel z-scored with the training scans' mean and std, then ridge regression of
+1 (AD) / -1 (CN) on the voxels, solved in its dual form (a Gram matrix of the training
scans), for three penalties. Printed: the test AUC (AD positive, scan level) of each fit, and
of the true hippocampal volume (smaller = AD) on the same test scans.
"""
import csv
import gzip
import os
import struct
import sys

import numpy as np


def read_nifti(path):
    """A .nii.gz volume as a flat float32 array scaled to [0, 1] (NIfTI-1, the types ldae writes)."""
    b = gzip.open(path).read()
    dims = struct.unpack('<8h', b[40:56])
    datatype = struct.unpack('<h', b[70:72])[0]
    offset = int(struct.unpack('<f', b[108:112])[0])
    slope, inter = struct.unpack('<2f', b[112:120])
    n = dims[1] * dims[2] * dims[3]
    dtype = {2: np.uint8, 4: np.int16, 16: np.float32, 512: np.uint16}[datatype]
    v = np.frombuffer(b, dtype=dtype, count=n, offset=offset).astype(np.float32)
    if slope != 0 and not np.isnan(slope):
        v = v * slope + inter
    return (v - v.min()) / (v.max() - v.min())


def auc(score, positive):
    """P(score of a positive > score of a negative), ties 1/2."""
    p, n = score[positive], score[~positive]
    return np.mean((p[:, None] > n[None, :]) + 0.5 * (p[:, None] == n[None, :]))


def main(manifest):
    folder = os.path.dirname(manifest)
    rows = [r for r in csv.DictReader(open(manifest)) if r['diagnosis'] in ('AD', 'CN')]
    rng = np.random.default_rng(0)
    test, pool = set(), {}
    for d in ('AD', 'CN'):
        subjects = sorted({r['subject'] for r in rows if r['diagnosis'] == d})
        rng.shuffle(subjects)
        n_test = int(round(0.4 * len(subjects)))
        test |= set(subjects[:n_test])
        pool[d] = subjects[n_test:]
    x = np.stack([read_nifti(os.path.join(folder, r['path'])) for r in rows])  # (scans, voxels)
    is_ad = np.array([r['diagnosis'] == 'AD' for r in rows])
    subject = np.array([r['subject'] for r in rows])
    in_test = np.array([s in test for s in subject])
    hippocampus = np.array([float(r['hippocampus_ml']) for r in rows])
    print(f'{len(test)} test subjects ({in_test.sum()} scans); true hippocampal volume: '
          f'test AUC {auc(-hippocampus[in_test], is_ad[in_test]):.3f}')
    available = len(pool['AD']) + len(pool['CN'])
    for n_train in (10, 25, 50, 100, available):
        chosen = set()
        for d in ('AD', 'CN'):
            chosen |= set(pool[d][:int(round(n_train * len(pool[d]) / available))])
        train = np.array([s in chosen for s in subject])
        z = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
        gram = z[train] @ z[train].T
        target = np.where(is_ad[train], 1.0, -1.0)
        aucs = []
        for penalty in (1e2, 1e4, 1e6):
            w = z[train].T @ np.linalg.solve(gram + penalty * np.eye(len(gram)), target)
            aucs.append(f'penalty {penalty:g}: {auc(z[in_test] @ w, is_ad[in_test]):.3f}')
        print(f'{len(chosen)} AD/CN training subjects ({train.sum()} scans): voxel ridge test AUC, ' + ', '.join(aucs))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: voxel_ridge.py MANIFEST.csv (from ldae synth)')
    main(sys.argv[1])
