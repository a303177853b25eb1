// SmallVector<T, N>: a vector that keeps up to N elements inside itself and uses the heap only
// beyond that, as LLVM's and PyTorch's (c10::SmallVector). Tensors' sizes and strides (five dims
// or fewer nearly always) and autograd's gradient lists (one to three tensors) are built and
// dropped for every op of every step; inline storage makes them cost no heap allocation.
//
// The interface is the part of std::vector's that tandem uses, with the same meaning (iterators
// are pointers, invalidated by growth as std::vector's); a std::vector converts implicitly, so
// code that builds a shape as a std::vector keeps working.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace tandem {

template <typename T, size_t N>
class SmallVector {
  static_assert(N > 0, "SmallVector needs inline room for at least one element");

 public:
  using value_type = T;
  using size_type = size_t;
  using difference_type = std::ptrdiff_t;
  using reference = T&;
  using const_reference = const T&;
  using pointer = T*;
  using const_pointer = const T*;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  SmallVector() noexcept : data_(inline_data()) {}
  explicit SmallVector(size_t n) : SmallVector() { resize(n); }
  SmallVector(size_t n, const T& value) : SmallVector() { assign(n, value); }
  template <std::input_iterator It>
  SmallVector(It first, It last) : SmallVector() {
    append(first, last);
  }
  SmallVector(std::initializer_list<T> values) : SmallVector() {
    append(values.begin(), values.end());
  }
  SmallVector(const std::vector<T>& values) : SmallVector() {  // NOLINT: implicit by design
    append(values.begin(), values.end());
  }
  SmallVector(const SmallVector& other) : SmallVector() { append(other.begin(), other.end()); }
  SmallVector(SmallVector&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : SmallVector() {
    take(std::move(other));
  }
  ~SmallVector() {
    std::destroy(begin(), end());
    release_heap();
  }

  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      clear();
      take(std::move(other));
    }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> values) {
    assign(values.begin(), values.end());
    return *this;
  }

  // --- access ---------------------------------------------------------------------------------
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  size_t capacity() const noexcept { return capacity_; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }
  T& operator[](size_t i) noexcept { return data_[i]; }
  const T& operator[](size_t i) const noexcept { return data_[i]; }
  T& at(size_t i) { return data_[checked_index(i)]; }
  const T& at(size_t i) const { return data_[checked_index(i)]; }
  T& front() noexcept { return data_[0]; }
  const T& front() const noexcept { return data_[0]; }
  T& back() noexcept { return data_[size_ - 1]; }
  const T& back() const noexcept { return data_[size_ - 1]; }

  // --- growth ---------------------------------------------------------------------------------
  void reserve(size_t n) {
    if (n > capacity_) reallocate(n);
  }
  void push_back(const T& value) { emplace_back(value); }
  void push_back(T&& value) { emplace_back(std::move(value)); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) {
      // The arguments may refer to an element of this vector: build first, then grow.
      T value(std::forward<Args>(args)...);
      reallocate(grown_capacity(size_ + 1));
      return *::new (data_ + size_++) T(std::move(value));
    }
    return *::new (data_ + size_++) T(std::forward<Args>(args)...);
  }
  void pop_back() noexcept { std::destroy_at(data_ + --size_); }
  void clear() noexcept {
    std::destroy(begin(), end());
    size_ = 0;
  }
  void resize(size_t n) {
    if (n < size_) {
      std::destroy(begin() + n, end());
    } else {
      reserve(n);
      std::uninitialized_value_construct(end(), data_ + n);
    }
    size_ = n;
  }
  void resize(size_t n, const T& value) {
    if (n <= size_) return resize(n);
    const T copy(value);
    reserve(n);
    std::uninitialized_fill(end(), data_ + n, copy);
    size_ = n;
  }
  void assign(size_t n, const T& value) {
    const T copy(value);
    clear();
    resize(n, copy);
  }
  template <std::input_iterator It>
  void assign(It first, It last) {
    clear();
    append(first, last);
  }
  void assign(std::initializer_list<T> values) { assign(values.begin(), values.end()); }

  // --- insertion and removal at a position (elements after it move) ---------------------------
  iterator insert(const_iterator pos, const T& value) { return emplace(pos, value); }
  iterator insert(const_iterator pos, T&& value) { return emplace(pos, std::move(value)); }
  template <typename... Args>
  iterator emplace(const_iterator pos, Args&&... args) {
    const size_t at = index_of(pos);
    emplace_back(std::forward<Args>(args)...);
    std::rotate(begin() + at, end() - 1, end());
    return begin() + at;
  }
  iterator insert(const_iterator pos, size_t n, const T& value) {
    const size_t at = index_of(pos);
    resize(size_ + n, value);
    std::rotate(begin() + at, end() - n, end());
    return begin() + at;
  }
  template <std::input_iterator It>
  iterator insert(const_iterator pos, It first, It last) {
    const size_t at = index_of(pos);
    const size_t old_size = size_;
    if constexpr (std::is_pointer_v<It>) {
      // The range may be part of this vector, which growth would move: copy it first.
      const SmallVector copy(first, last);
      append(copy.begin(), copy.end());
    } else {
      append(first, last);
    }
    std::rotate(begin() + at, begin() + old_size, end());
    return begin() + at;
  }
  iterator insert(const_iterator pos, std::initializer_list<T> values) {
    return insert(pos, values.begin(), values.end());
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    const size_t from = index_of(first), to = index_of(last);
    if (from == to) return begin() + from;  // no self-move of the elements after it
    iterator new_end = std::move(begin() + to, end(), begin() + from);
    std::destroy(new_end, end());
    size_ -= to - from;
    return begin() + from;
  }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend auto operator<=>(const SmallVector& a, const SmallVector& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  T* inline_data() noexcept { return std::launder(reinterpret_cast<T*>(inline_)); }
  bool on_heap() const noexcept {
    return data_ != std::launder(reinterpret_cast<const T*>(inline_));
  }
  size_t grown_capacity(size_t needed) const { return std::max(needed, 2 * capacity_); }
  size_t index_of(const_iterator it) const noexcept { return size_t(it - data_); }
  size_t checked_index(size_t i) const {
    if (i >= size_) throw std::out_of_range("SmallVector::at: index out of range");
    return i;
  }
  template <typename It>
  void append(It first, It last) {
    if constexpr (std::forward_iterator<It>) reserve(size_ + size_t(std::distance(first, last)));
    for (; first != last; ++first) emplace_back(*first);
  }
  void reallocate(size_t new_capacity) {
    T* fresh = std::allocator<T>().allocate(new_capacity);
    std::uninitialized_move(begin(), end(), fresh);
    std::destroy(begin(), end());
    release_heap();
    data_ = fresh;
    capacity_ = new_capacity;
  }
  void release_heap() noexcept {
    if (on_heap()) std::allocator<T>().deallocate(data_, capacity_);
  }
  // Takes other's elements (this is empty): its heap block as it is, inline ones one by one.
  void take(SmallVector&& other) {
    if (other.on_heap()) {
      release_heap();
      data_ = other.data_;
      capacity_ = other.capacity_;
      size_ = other.size_;
      other.data_ = other.inline_data();
      other.capacity_ = N;
      other.size_ = 0;
    } else {
      reserve(other.size_);
      std::uninitialized_move(other.begin(), other.end(), data_);
      size_ = other.size_;
      other.clear();
    }
  }

  T* data_;
  size_t size_ = 0;
  size_t capacity_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace tandem
