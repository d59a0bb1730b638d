// The Prometheus labels of an allocation's tags (turn/tags.hpp) for metrics.tag_labels: one label per
// configured key, in config order, valued by the allocation's tag, "unknown" when it has none.
// Tags are chosen by applications, so values are bounded as site labels are: `site` through
// SiteMap::label (the configured sites, then limits.max_sites others, then "other"), every other key
// to `max_values` distinct values, then "other" (counted through `on_overflow`). Thread-safe.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "server/sites.hpp"
#include "turn/tags.hpp"

namespace turnpike {

class TagLabels {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  TagLabels(std::vector<std::string> keys, const SiteMap& sites, size_t max_values,
            std::function<void()> on_overflow = {});

  // The configured tag keys (metrics.tag_labels): the label names, in order.
  const std::vector<std::string>& keys() const { return keys_; }
  // One (key, bounded value) per configured key.
  Labels labels(const turn::Tags& tags) const;
  // `base` plus the tag labels: what prometheus::Family<T>::Add takes (Metrics::Labels, set as
  // Metrics::set_tag_labeler by SharedState).
  std::map<std::string, std::string> labels(const turn::Tags& tags, std::map<std::string, std::string> base) const;

 private:
  std::string bounded(const std::string& key, const std::string& value) const;

  std::vector<std::string> keys_;
  const SiteMap& sites_;
  size_t max_values_;
  std::function<void()> on_overflow_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::unordered_set<std::string>> seen_;  // per key but site
};

}  // namespace turnpike
