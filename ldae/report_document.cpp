#include "ldae/report_document.h"

#include <cstdint>
#include <fstream>
#include <sstream>

namespace ldae::report {

void Document::heading(const std::string& text, int level) {
  Block b;
  b.kind = Block::Kind::Heading;
  b.level = level;
  b.text = text;
  blocks_.push_back(b);
}

void Document::paragraph(const std::string& text) {
  Block b;
  b.kind = Block::Kind::Paragraph;
  b.text = text;
  blocks_.push_back(b);
}

void Document::table(std::vector<std::vector<std::string>> rows, bool numeric) {
  Block b;
  b.kind = Block::Kind::Table;
  b.rows = std::move(rows);
  b.numeric = numeric;
  blocks_.push_back(b);
}

void Document::figure(const std::string& relative_png, const std::string& caption) {
  Block b;
  b.kind = Block::Kind::Figure;
  b.path = relative_png;
  b.text = caption;
  blocks_.push_back(b);
}

void Document::code(const std::string& text) {
  Block b;
  b.kind = Block::Kind::Code;
  b.text = text;
  blocks_.push_back(b);
}

namespace {

// `|` inside a Markdown table cell would end the cell.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

// Inline markup of a paragraph: `code` and **bold**, the text escaped.
std::string html_inline(const std::string& text) {
  std::string out;
  bool in_code = false, in_bold = false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '`') {
      out += in_code ? "</code>" : "<code>";
      in_code = !in_code;
    } else if (!in_code && text.compare(i, 2, "**") == 0) {
      out += in_bold ? "</b>" : "<b>";
      in_bold = !in_bold;
      ++i;
    } else {
      out += html_escape(std::string(1, text[i]));
    }
  }
  if (in_code) out += "</code>";
  if (in_bold) out += "</b>";
  return out;
}

}  // namespace

std::string Document::markdown() const {
  std::ostringstream md;
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::Heading:
        md << std::string(static_cast<size_t>(b.level), '#') << ' ' << b.text << "\n\n";
        break;
      case Block::Kind::Paragraph:
        md << b.text << "\n\n";
        break;
      case Block::Kind::Code:
        md << "```\n" << b.text << (b.text.empty() || b.text.back() != '\n' ? "\n" : "") << "```\n\n";
        break;
      case Block::Kind::Figure:
        md << "![" << md_cell(b.text) << "](" << b.path << ")\n\n*" << b.text << "*\n\n";
        break;
      case Block::Kind::Table: {
        if (b.rows.empty()) break;
        for (size_t r = 0; r < b.rows.size(); ++r) {
          md << '|';
          for (const auto& cell : b.rows[r]) md << ' ' << md_cell(cell) << " |";
          md << '\n';
          if (r == 0) {
            md << '|';
            for (size_t c = 0; c < b.rows[0].size(); ++c) md << (c == 0 || !b.numeric ? "---|" : "---:|");
            md << '\n';
          }
        }
        md << '\n';
        break;
      }
    }
  }
  return md.str();
}

std::string Document::html(const std::string& title, const std::string& folder) const {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << html_escape(title)
    << "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.4}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.25em .6em}"
       "td:not(:first-child){text-align:right}table.text td{text-align:left;vertical-align:top}"
       "th{background:#eee}img{max-width:100%}"
       "pre{background:#f4f4f4;padding:.6em;overflow-x:auto}figcaption{font-style:italic}</style>\n"
       "</head><body>\n";
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::Heading:
        h << "<h" << b.level << '>' << html_escape(b.text) << "</h" << b.level << ">\n";
        break;
      case Block::Kind::Paragraph:
        h << "<p>" << html_inline(b.text) << "</p>\n";
        break;
      case Block::Kind::Code:
        h << "<pre>" << html_escape(b.text) << "</pre>\n";
        break;
      case Block::Kind::Figure: {
        std::ifstream in(folder + "/" + b.path, std::ios::binary);
        std::ostringstream bytes;
        if (in) bytes << in.rdbuf();
        h << "<figure>";
        if (in && !bytes.str().empty())
          h << "<img alt=\"" << html_escape(b.text) << "\" src=\"data:image/png;base64," << base64(bytes.str())
            << "\">";
        else
          h << "<p><b>missing figure: " << html_escape(b.path) << "</b></p>";
        h << "<figcaption>" << html_escape(b.text) << "</figcaption></figure>\n";
        break;
      }
      case Block::Kind::Table: {
        if (b.rows.empty()) break;
        h << (b.numeric ? "<table>\n" : "<table class=\"text\">\n");
        for (size_t r = 0; r < b.rows.size(); ++r) {
          h << "<tr>";
          for (const auto& cell : b.rows[r])
            h << (r == 0 ? "<th>" : "<td>") << html_escape(cell) << (r == 0 ? "</th>" : "</td>");
          h << "</tr>\n";
        }
        h << "</table>\n";
        break;
      }
    }
  }
  h << "</body></html>\n";
  return h.str();
}

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  // Three bytes (24 bits) become four 6-bit symbols.
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  const size_t rest = bytes.size() - i;  // 0, 1 or 2 bytes left: pad with '='
  if (rest == 1) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace ldae::report
