// OrderedDict: insertion-ordered map with O(1) lookup, as Python's dict/OrderedDict. Used for
// state_dicts (keys in registration order) and anything else whose order is part of the contract.
//
//   OrderedDict<std::string, Tensor> sd;
//   sd.insert("fc.weight", w);      // throws if the key exists; use set() to overwrite
//   for (const auto& [key, value] : sd) ...
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/common/error.h"

namespace tandem {

template <typename K, typename V>
class OrderedDict {
 public:
  using Item = std::pair<K, V>;

  void insert(const K& key, V value) {
    TANDEM_CHECK(!contains(key), "OrderedDict: duplicate key '", key, "'");
    index_.emplace(key, items_.size());
    items_.emplace_back(key, std::move(value));
  }
  // Inserts at the end, or replaces the value in place if the key exists.
  void set(const K& key, V value) {
    if (auto it = index_.find(key); it != index_.end()) items_[it->second].second = std::move(value);
    else insert(key, std::move(value));
  }
  bool contains(const K& key) const { return index_.count(key) != 0; }
  // On a temporary (`net->state_dict().at("fc.weight")`) at() and item() return copies, so a
  // reference kept from them does not outlive the dict.
  const V& at(const K& key) const& {
    auto it = index_.find(key);
    TANDEM_CHECK(it != index_.end(), "key '", key, "' not found");
    return items_[it->second].second;
  }
  V& at(const K& key) & { return const_cast<V&>(std::as_const(*this).at(key)); }
  V at(const K& key) && { return std::move(const_cast<V&>(std::as_const(*this).at(key))); }
  const V* find(const K& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  // Removes a key, keeping the order of the others. O(n).
  bool erase(const K& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    items_.erase(items_.begin() + ptrdiff_t(it->second));
    rebuild_index();
    return true;
  }
  std::vector<K> keys() const {
    std::vector<K> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(k);
    return out;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() {
    items_.clear();
    index_.clear();
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  const Item& item(size_t i) const& { return items_.at(i); }
  Item item(size_t i) && { return std::move(items_.at(i)); }

 private:
  void rebuild_index() {
    index_.clear();
    for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  }
  std::vector<Item> items_;
  std::unordered_map<K, size_t> index_;
};

}  // namespace tandem
