// A table of per-scan feature vectors with their labels and subject-level split: what the
// linear probes (ldae/probe.h) read. On disk it is features.csv (written by the inference
// stage, see notes/stage-contract):
//
//   subject,session,diagnosis,age,split,y0,y1,...,y{d-1}
//   sub-0001,0,CN,71.3,train,0.12,-1.5,...
//
// diagnosis CN, MCI or AD; age in years (empty or nan: unknown); split train, val or test,
// by subject (a subject in two splits is refused). The feature columns are y0 ... y{d-1},
// all of them, in this order; other extra columns are ignored. Features must be finite.
//
// Two more ways to get a table: one column of a manifest (the "oracle" baseline, e.g. the
// synthetic cohort's true hippocampal volume), and PCA of another table's features
// (ldae/pca.h; with_pca below).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "tensor/tensor.h"

namespace ldae::probe {

struct FeatureTable {
  std::string source;                       // file name or a description, for messages
  std::vector<std::string> subject, session, diagnosis, split;  // one per scan
  std::vector<double> age;                  // years, NaN when unknown
  std::vector<int64_t> line;                // CSV line (1-based) or manifest line, for messages
  std::vector<std::string> feature_names;   // d names
  Tensor x;                                 // (N, d) float64 on the CPU

  int64_t rows() const { return static_cast<int64_t>(subject.size()); }
  int64_t dim() const { return static_cast<int64_t>(feature_names.size()); }
  // Row indices whose split is `split`, in table order.
  std::vector<size_t> rows_of_split(const std::string& split) const;
};

// Reads and validates features.csv. Throws ldae::Error "read_features: FILE: problem" or
// "read_features: FILE:LINE: problem" for: a missing or empty file, missing columns
// (all named), no y0 column, feature columns not exactly y0..y{d-1} in order, a row
// with the wrong number of fields, an empty subject, an unknown diagnosis or split, an age
// that is not a number, a feature that is not a finite number, and a subject found in two
// splits (both lines named).
FeatureTable read_features(const std::string& path);
// The same on CSV text in memory (`source` names it in messages).
FeatureTable parse_features(const std::string& text, const std::string& source);

// Writes a table as features.csv (numbers with 17 significant digits: reads back exactly).
void write_features(const std::string& path, const FeatureTable& table);

// Checks the invariants above on an in-memory table (sizes, labels, finite features, a
// subject in one split only). Throws ldae::Error "<op>: ...".
void validate_features(const FeatureTable& table, const std::string& op);

// The split of every manifest row: its `split` column when it has one (e.g. a latent
// cache's manifest.csv), else data::split_by_subject(manifest, val_fraction,
// test_fraction, seed) (the same rule and defaults as `ldae train-ae`).
std::vector<std::string> manifest_splits(const data::Manifest& manifest, double val_fraction, double test_fraction,
                                         uint64_t seed);

// A table of any per-scan features of a manifest's rows: labels (subject, session in
// months, diagnosis, age) from the manifest, `splits` one per row (e.g. manifest_splits),
// x (rows, d) (converted to float64; e.g. flattened autoencoder latents, then with_pca).
// Names default to y0..y{d-1}. Throws ldae::Error "features_from_manifest: ..." on
// mismatched sizes or a non-finite feature.
FeatureTable features_from_manifest(const data::Manifest& manifest, const std::vector<std::string>& splits,
                                    const Tensor& x, std::vector<std::string> feature_names = {});

// The manifest's numeric `column`, one value per row. Throws ldae::Error "OP: ..." for a
// missing column (the columns listed) or a value that is not a finite number (line named).
std::vector<double> manifest_numbers(const data::Manifest& manifest, const std::string& column,
                                     const std::string& op);

// The oracle baseline's table: one feature, the manifest's numeric `column` (e.g.
// hippocampus_ml), labels from the manifest, `splits` one per row. Throws ldae::Error
// "oracle_features: ..." for a missing column (the columns listed) or a value that is not
// a finite number (line named).
FeatureTable oracle_features(const data::Manifest& manifest, const std::string& column,
                             const std::vector<std::string>& splits);

// The same table with its features replaced by their first k principal components, the
// PCA fitted on the rows of split "train" only (ldae/pca.h). Names "pc0".."pc{k-1}".
FeatureTable with_pca(const FeatureTable& table, int64_t k);

// How many principal components of the "train" rows explain at least `fraction` of their
// variance, at most max_k (components_for_variance over a fit of max_k components). Why not
// simply as many as possible: a component of almost no training variance is divided by its
// tiny training std when the probe z-scores it, so the other splits' rows land tens of
// stds out (the course demo, 51 components of 52 training latents: |z| up to 44 on the test
// split, and an age probe off by 87 years).
int64_t pca_components_for_variance(const FeatureTable& table, double fraction, int64_t max_k);

// How much the features differ between the table's scans: for each feature j, its
// population standard deviation over all rows and its mean absolute value; the medians of
// both over the features. A semantic encoder that maps every scan to nearly the same code
// has a spread far below its magnitude (a probe then z-scores that tiny spread into unit
// features). Throws ldae::Error "feature_spread: ..." for a table without rows or features.
struct FeatureSpread {
  int64_t scans = 0;
  double median_std = 0;       // median over features of the std across scans
  double median_abs_mean = 0;  // median over features of |mean| across scans
  // median_std / median_abs_mean (NaN when the magnitude is 0): the report's y_sem_spread ratio.
  double ratio() const;
};
FeatureSpread feature_spread(const FeatureTable& table);
// The same for bare codes: rows are scans, columns features (N, d), any float dtype.
FeatureSpread feature_spread(const Tensor& codes);

}  // namespace ldae::probe
