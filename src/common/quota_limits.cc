#include "common/quota_limits.h"

#include <charconv>

#include "common/model_aliases.h"
#include "common/names.h"

namespace gkm {
namespace {

// One field: '-' (not given) or a whole number of at most 12 digits.
bool ParseField(std::string_view v, int64_t& out) {
  if (v == "-") {
    out = -1;
    return true;
  }
  if (v.empty() || v.size() > 12) return false;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return false;
  }
  std::from_chars(v.data(), v.data() + v.size(), out);
  return true;
}

}  // namespace

std::string LimitTable::Add(std::string_view spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos) return "expected MODEL=RPM/RPD[/TPM]";
  std::string_view model = spec.substr(0, eq);
  if (model.starts_with("models/")) model.remove_prefix(7);
  std::string letters(model);
  for (char& ch : letters) {
    if (ch == '*') ch = 'x';
  }
  if (model.empty() || !ModelNameProblem(letters).empty()) {
    return "MODEL must be a model name or glob (letters, digits, '.', '-', '_', '*')";
  }
  std::string_view rest = spec.substr(eq + 1);
  int64_t fields[3] = {-1, -1, -1};
  int n = 0;
  while (true) {
    const size_t slash = rest.find('/');
    std::string_view field = rest.substr(0, slash);
    if (n == 3) return "expected at most three numbers RPM/RPD/TPM";
    if (!ParseField(field, fields[n])) {
      return "'" + std::string(field.substr(0, 20)) + "' is not a whole number or '-'";
    }
    ++n;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (n < 2) return "expected MODEL=RPM/RPD[/TPM]";
  Rule r{std::string(model), model.find('*') != std::string_view::npos,
         QuotaLimits{fields[0], fields[1], fields[2]}};
  for (const Rule& o : rules_) {
    if (o.model == r.model) return "model '" + r.model + "' given twice";
  }
  rules_.push_back(std::move(r));
  return {};
}

QuotaLimits LimitTable::Resolve(std::string_view model) const {
  if (model.starts_with("models/")) model.remove_prefix(7);
  for (const Rule& r : rules_) {
    if (!r.glob && r.model == model) return r.limits;
  }
  for (const Rule& r : rules_) {
    if (r.glob && GlobMatch(r.model, model)) return r.limits;
  }
  return {};
}

}  // namespace gkm
