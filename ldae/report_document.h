// A small document model for the evaluation report: headings, paragraphs, tables and
// figures, rendered twice from the same blocks, as Markdown (report.md) and as one
// self-contained HTML page (report.html, figures embedded as base64 PNG data), so the two
// can never disagree.
#pragma once
#include <string>
#include <vector>

namespace ldae::report {

struct Block {
  enum class Kind { Heading, Paragraph, Table, Figure, Code };
  Kind kind = Kind::Paragraph;
  int level = 2;                                // Heading: 1, 2, 3
  std::string text;                             // Heading, Paragraph, Code: the text; Figure: the caption
  std::vector<std::vector<std::string>> rows;   // Table: rows[0] is the header
  bool numeric = true;                          // Table: columns after the first right-aligned (numbers)
  std::string path;                             // Figure: the PNG, relative to the report's folder
};

class Document {
 public:
  void heading(const std::string& text, int level = 2);
  // Paragraph text may use `code` and **bold** (rendered in both formats).
  void paragraph(const std::string& text);
  // A table, rows[0] the header. `numeric`: the columns after the first hold numbers and are
  // right-aligned; else every column is text, left-aligned.
  void table(std::vector<std::vector<std::string>> rows, bool numeric = true);
  void figure(const std::string& relative_png, const std::string& caption);
  void code(const std::string& text);

  const std::vector<Block>& blocks() const { return blocks_; }

  // Markdown, figures linked by their relative paths.
  std::string markdown() const;
  // A complete HTML page titled `title`; each figure is read from `folder`/path and embedded
  // (a figure that cannot be read becomes a visible "missing figure" note, never a crash).
  std::string html(const std::string& title, const std::string& folder) const;

 private:
  std::vector<Block> blocks_;
};

// Standard base64 (RFC 4648, with '=' padding) of `bytes`.
std::string base64(const std::string& bytes);
// Escapes &, <, >, " for HTML text.
std::string html_escape(const std::string& text);

}  // namespace ldae::report
