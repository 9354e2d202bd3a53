// The manifest: a CSV file with one row per scan, as the reference pipeline uses it:
//
//   subject,path,diagnosis,session,age[,more columns...]
//   sub-0001,sub-0001/sub-0001_ses-M00_T1w.nii.gz,CN,0,71.3
//
// `path` is relative to the manifest's folder (or absolute); `session` is the visit in
// months; `diagnosis` is CN, MCI or AD; `age` is in years (empty or NaN allowed). Other
// columns (e.g. latent_path, ventricle_ml) are kept as text. Splits are by subject.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ldae::data {

struct ManifestRow {
  std::string subject;
  std::string path;       // as written in the CSV
  std::string full_path;  // resolved against the manifest's folder
  std::string diagnosis;  // "CN", "MCI" or "AD"
  int64_t session = 0;    // months since baseline
  double age = 0;         // years; NaN when unknown
  std::vector<std::string> fields;  // every field of the row, in column order
  int64_t line = 0;                 // 1-based line number in the CSV (for messages)
};

struct Manifest {
  std::string source;                // the CSV's path (or a name, for parsed text)
  std::string folder;                // relative paths are resolved against this
  std::vector<std::string> columns;  // header, in file order
  std::vector<ManifestRow> rows;

  // Index of `column` in `columns`, or -1.
  int64_t column_index(const std::string& column) const;
  // The text of `column` in row r (throws Error if there is no such column).
  const std::string& field(size_t r, const std::string& column) const;
  // Adds a column (or overwrites an existing one) with one value per row.
  void set_column(const std::string& column, const std::vector<std::string>& values);
};

struct ManifestOptions {
  bool check_files = true;  // refuse rows whose image file does not exist
};

// Reads and validates a manifest. Throws ldae::Error "read_manifest: FILE:LINE: problem"
// (or "read_manifest: FILE: problem" for file-level problems) on: a missing file, no
// header, missing required columns, duplicate column names, rows with the wrong number of
// fields, an unterminated quote, an empty subject or path, a session that is not a
// non-negative integer, an age that is not a number in [0, 150] (empty and NaN allowed),
// an unknown diagnosis, a (subject, session) pair seen twice, and (with check_files) an
// image file that does not exist. Fields may be quoted ("a,b" and "" for a quote).
Manifest read_manifest(const std::string& path, const ManifestOptions& options = {});

// The same validation on CSV text already in memory; `folder` resolves relative paths.
Manifest parse_manifest(const std::string& text, const std::string& source, const std::string& folder,
                        const ManifestOptions& options = {});

// Writes the manifest as CSV (all columns, fields quoted only when needed).
void write_manifest(const std::string& path, const Manifest& manifest);

// Class indices as in the reference (classes sorted alphabetically): AD 0, CN 1, MCI 2.
int diagnosis_index(const std::string& diagnosis);

// Row indices of a subject-level split: no subject appears in two parts.
struct Split {
  std::vector<size_t> train, val, test;
};

// Shuffles the distinct subjects with `seed` (Philox), then takes
// ceil(test_fraction * subjects) for test and ceil(val_fraction * remaining) for
// validation (the reference's two GroupShuffleSplit calls); the rest train. Rows keep
// their manifest order inside each part. Requires fractions in [0, 1) and at least one
// training subject.
Split split_by_subject(const Manifest& manifest, double val_fraction, double test_fraction, uint64_t seed);

}  // namespace ldae::data
