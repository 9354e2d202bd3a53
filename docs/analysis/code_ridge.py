"""What a demo's semantic codes (y_sem) carry: cross-validated ridge regression of the ground truth on them.

A check on the demo's probes, not part of the program. For each ground-truth column of the synthetic
cohort's manifest (hippocampus_ml, ventricle_ml, gm_ml, severity, age), ridge regression from the z-scored
y_sem of every scan in features.csv (all splits, all diagnoses), five folds by subject (subjects shuffled
with seed 0), three penalties; printed: the out-of-fold R^2 (1 - residual / total sum of squares; below 0:
worse than predicting the training folds' mean).

Usage (python3 with numpy, e.g. Debian's /usr/bin/python3), on a finished `ldae demo` folder:

    /usr/bin/python3 docs/analysis/code_ridge.py out/demo/features.csv out/demo/cohort/manifest.csv
"""
import csv
import sys

import numpy as np


def main(features_path, manifest_path):
    rows = list(csv.DictReader(open(features_path)))
    truth = {(r['subject'], int(r['session'])): r for r in csv.DictReader(open(manifest_path))}
    code_columns = [k for k in rows[0] if k.startswith('y') and k[1:].isdigit()]
    x = np.array([[float(r[k]) for k in code_columns] for r in rows])  # (scans, d)
    subject = np.array([r['subject'] for r in rows])
    subjects = sorted(set(subject))
    np.random.default_rng(0).shuffle(subjects)
    fold_of = {s: i % 5 for i, s in enumerate(subjects)}
    fold = np.array([fold_of[s] for s in subject])
    print(f'{len(rows)} scans of {len(subjects)} subjects, y_sem of {len(code_columns)} components')
    for column in ('hippocampus_ml', 'ventricle_ml', 'gm_ml', 'severity', 'age'):
        y = np.array([float(truth[(r['subject'], int(r['session']))][column]) for r in rows])
        r2 = []
        for penalty in (1e-1, 1e1, 1e3):
            predicted = np.zeros_like(y)
            for k in range(5):
                train, test = fold != k, fold == k
                z = (x - x[train].mean(0)) / (x[train].std(0) + 1e-12)
                target = y[train] - y[train].mean()
                w = np.linalg.solve(z[train].T @ z[train] + penalty * np.eye(z.shape[1]), z[train].T @ target)
                predicted[test] = z[test] @ w + y[train].mean()
            r2.append(1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        print(f'{column:15s} out-of-fold R^2, penalty 0.1 / 10 / 1000: ' + ' / '.join(f'{v:.2f}' for v in r2))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: code_ridge.py FEATURES.csv MANIFEST.csv (from an ldae demo folder)')
    main(sys.argv[1], sys.argv[2])
