"""What a demo's autoencoder latents carry: cross-validated ridge regression of the ground truth on them.

The companion of code_ridge.py (which does the same on y_sem): if a quantity is not in the latents
that stages 2 and 3 train on, the semantic encoder cannot learn it from them. For each ground-truth
column of the manifest (hippocampus_ml, ventricle_ml, gm_ml, severity, age): ridge regression from
the flattened, z-scored latents of every scan in the latent cache (all splits), five folds by subject
(subjects in sorted order, the k-th in fold k % 5, as `ldae evaluate`'s y_sem_content), solved in the
dual (through the training scans' Gram matrix); the penalty is 0.01, 1 or 100 times the mean diagonal
of that Gram matrix. Printed: the out-of-fold R^2.

Usage (python3 with numpy), on a finished `ldae demo` folder:

    /usr/bin/python3 docs/analysis/latent_ridge.py out/demo
"""
import csv
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    """The one float32 tensor of a latent file, flattened, as float64."""
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    name = [k for k in header if k != '__metadata__'][0]
    assert header[name]['dtype'] == 'F32', path
    start, end = header[name]['data_offsets']
    return np.frombuffer(b[8 + n + start:8 + n + end], dtype=np.float32).astype(np.float64)


def main(demo):
    cache = os.path.join(demo, 'latents')
    rows = list(csv.DictReader(open(os.path.join(cache, 'manifest.csv'))))
    x = np.stack([read_safetensors(os.path.join(cache, r['latent_path'])) for r in rows])  # (scans, values)
    subject = np.array([r['subject'] for r in rows])
    fold_of = {s: i % 5 for i, s in enumerate(sorted(set(subject)))}
    fold = np.array([fold_of[s] for s in subject])
    parts = []  # per fold: train mask, test mask, train Gram, test-train products
    for k in range(5):
        train, test = fold != k, fold == k
        mean, std = x[train].mean(0), x[train].std(0)
        z = (x - mean) / np.where(std > 0, std, 1.0) * (std > 0)
        parts.append((train, test, z[train] @ z[train].T, z[test] @ z[train].T))
    print(f'{len(rows)} scans of {len(fold_of)} subjects, latents of {x.shape[1]} values')
    for column in ('hippocampus_ml', 'ventricle_ml', 'gm_ml', 'severity', 'age'):
        y = np.array([float(r[column]) for r in rows])
        r2 = []
        for relative in (0.01, 1.0, 100.0):
            predicted = np.zeros_like(y)
            for train, test, gram, cross in parts:
                penalty = relative * np.trace(gram) / len(gram)
                a = np.linalg.solve(gram + penalty * np.eye(len(gram)), y[train] - y[train].mean())
                predicted[test] = cross @ a + y[train].mean()
            r2.append(1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        print(f'{column:15s} out-of-fold R^2, penalty 0.01 / 1 / 100 x the mean Gram diagonal: ' +
              ' / '.join(f'{v:.2f}' for v in r2))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: latent_ridge.py DEMO_FOLDER (from ldae demo)')
    main(sys.argv[1])
