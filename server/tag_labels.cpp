#include "server/tag_labels.hpp"

namespace turnpike {

TagLabels::TagLabels(std::vector<std::string> keys, const SiteMap& sites, size_t max_values,
                     std::function<void()> on_overflow)
    : keys_(std::move(keys)), sites_(sites), max_values_(max_values), on_overflow_(std::move(on_overflow)) {}

std::string TagLabels::bounded(const std::string& key, const std::string& value) const {
  if (key == "site") return sites_.label(value);  // SiteMap's own bound, shared with the per-site metrics
  if (value == "other" || value == "unknown") return value;
  {
    std::lock_guard lock(mu_);
    auto& seen = seen_[key];
    if (seen.count(value)) return value;
    if (seen.size() < max_values_) {
      seen.insert(value);
      return value;
    }
  }
  if (on_overflow_) on_overflow_();
  return "other";
}

TagLabels::Labels TagLabels::labels(const turn::Tags& tags) const {
  Labels out;
  out.reserve(keys_.size());
  for (const auto& key : keys_) {
    const std::string* value = turn::find_tag(tags, key);
    out.emplace_back(key, value ? bounded(key, *value) : std::string("unknown"));
  }
  return out;
}

std::map<std::string, std::string> TagLabels::labels(const turn::Tags& tags, std::map<std::string, std::string> base) const {
  for (auto& [k, v] : labels(tags)) base.emplace(std::move(k), std::move(v));
  return base;
}

}  // namespace turnpike
