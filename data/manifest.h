// The manifest: a CSV file with one row per scan, as the reference pipeline uses it:
//
//   subject,path,diagnosis,session,age[,more columns...]
//   sub-0001,sub-0001/sub-0001_ses-M00_T1w.nii.gz,CN,0,71.3
//
// `path` is relative to the manifest's folder (or absolute); `session` is the visit in
// months, written as a number (6, 06) or a visit label (M06, m06, ses-M06; bl and sc
// for baseline and screening, month 0), see parse_session(); `diagnosis` is CN, MCI or AD; `age` is in years (empty or NaN allowed). Other
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
// fields, an unterminated quote, an empty subject or path, a session that
// parse_session() refuses, an age that is not a number in [0, 150] (empty and NaN allowed),
// an unknown diagnosis, a (subject, session) pair seen twice (the message names both
// lines and their paths; "6" and "M06" are the same session), and (with check_files) an
// image file that does not exist. Fields may be quoted ("a,b" and "" for a quote).
Manifest read_manifest(const std::string& path, const ManifestOptions& options = {});

// The same validation on CSV text already in memory; `folder` resolves relative paths.
Manifest parse_manifest(const std::string& text, const std::string& source, const std::string& folder,
                        const ManifestOptions& options = {});

// Reads a visit label as months since baseline, the one parser of sessions in the
// project. Accepted (letters in any case): a plain number of months "6", "06"; "M06",
// "m6"; "ses-M06" (BIDS); "bl" and "sc" (baseline, screening) and "ses-bl", "ses-sc" for
// month 0. At most 4 digits. Returns false (and leaves *months alone) for anything else,
// e.g. "", "-3", "M6x", "6.5", "ses-01" (a BIDS visit number, not months: ambiguous).
bool parse_session(const std::string& label, int64_t* months);

// Where `ldae preprocess --manifest` writes each row, relative to its output folder:
//   <subject>/<subject>_ses-M<MM>_T1w.nii.gz
// MM is the session in months with at least two digits (M00, M06, M12, M120), and
// characters of the subject other than letters, digits, '-' and '_' become '_' (so
// "sub.01" -> "sub_01"; the output stays inside its folder whatever the subject text).
// Returns one name per row, in row order. Throws ldae::Error ("preprocess: ...") before
// anything is written if two rows would get the same file (compared ignoring case, as
// on macOS and Windows file systems), naming both rows (CSV line) and their input paths;
// if a name would overwrite one of the manifest's input files in `out_dir`; or if
// `out_dir`/manifest.csv is the input manifest itself.
std::vector<std::string> preprocess_output_names(const Manifest& manifest, const std::string& out_dir);

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
//
// stratify = true (not in the reference): the same rule applied to the subjects of each
// diagnosis (a subject's diagnosis: that of its first row) separately, with one Philox
// stream per diagnosis, and the test and validation counts capped so that every diagnosis
// keeps at least one training subject. Small cohorts then still have every diagnosis in
// the test split, which the AD-vs-CN probe needs.
Split split_by_subject(const Manifest& manifest, double val_fraction, double test_fraction, uint64_t seed,
                       bool stratify = false);

}  // namespace ldae::data
