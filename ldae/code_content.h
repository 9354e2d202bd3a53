// What a table of codes carries about known per-scan quantities (for the synthetic cohort:
// the manifest's ground truth, e.g. hippocampal volume or disease severity).
//
// For one quantity y (one value per row of the table): ridge regression of y on the features,
// z-scored with the training rows' mean and std, fitted on all but one fold of subjects and
// scored on the left-out fold, every fold in turn. The folds are by subject (all scans of a
// subject in one fold): the subjects in sorted order, the k-th in fold k % folds. The score is
// the out-of-fold R^2 = 1 - sum (y - prediction)^2 / sum (y - mean(y))^2 over all rows: 1 is
// perfect, 0 is no better than the training folds' mean, below 0 worse than it. A linear probe
// can only find what this finds, so a quantity at R^2 <= 0 is one the codes do not hold linearly.
#pragma once
#include <string>
#include <vector>

#include "ldae/feature_table.h"

namespace ldae::probe {

// The out-of-fold R^2 of `target` (one finite value per table row) for each of `penalties` (the
// ridge penalty added to the diagonal of the z-scored Gram matrix, > 0). Throws ldae::Error when
// the target's size differs from the table's rows, a value is not finite, there are fewer
// subjects than `folds` (>= 2) or the target is constant.
std::vector<double> out_of_fold_r2(const FeatureTable& table, const std::vector<double>& target,
                                   const std::vector<double>& penalties, int folds = 5);

}  // namespace ldae::probe
