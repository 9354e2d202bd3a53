// Small helpers the training stages share for what their run folders record: a file's
// fingerprint (config.json names the exact inputs) and exact numbers in checkpoint metadata.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace ldae::run {

// FNV-1a 64 of a file's bytes, as 16 hex digits. Throws ldae::Error "<op>: cannot read PATH".
std::string file_fingerprint(const std::string& path, const std::string& op);

// A double as hexadecimal text ("%a"), so that it reads back exactly.
std::string exact(double v);
// The metadata entry `key` read back as a double (written by exact) or a count. Throws
// ldae::Error "<op>: the checkpoint lacks metadata "KEY"" when it is missing.
double parse_exact(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& op);
int64_t parse_count(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& op);

}  // namespace ldae::run
