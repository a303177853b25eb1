// SmallVector behaves as std::vector for the operations tandem uses, inline and spilled to the
// heap alike, with non-trivial elements (reference counts must balance) and with arguments that
// alias the vector's own elements.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/small_vector.h"

namespace {

using tandem::SmallVector;

template <typename T, size_t N>
std::vector<T> as_vector(const SmallVector<T, N>& v) {
  return std::vector<T>(v.begin(), v.end());
}

TEST(SmallVector, InlineUntilItsCapacityThenOnTheHeap) {
  SmallVector<int64_t, 3> v;
  const int64_t* inline_storage = v.data();
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.capacity(), 3u);
  for (int64_t i = 0; i < 3; ++i) v.push_back(i);
  EXPECT_EQ(v.data(), inline_storage);
  v.push_back(3);
  EXPECT_NE(v.data(), inline_storage);
  EXPECT_EQ(as_vector(v), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_GE(v.capacity(), 4u);
}

TEST(SmallVector, ConstructorsAndComparison) {
  const SmallVector<int64_t, 4> a{1, 2, 3};
  const SmallVector<int64_t, 4> from_std = std::vector<int64_t>{1, 2, 3};
  const SmallVector<int64_t, 4> sized(3), filled(2, 7);
  const std::vector<int64_t> src{5, 6, 7, 8, 9, 10};
  const SmallVector<int64_t, 4> range(src.begin(), src.end());
  EXPECT_EQ(a, from_std);
  EXPECT_EQ(as_vector(sized), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(as_vector(filled), (std::vector<int64_t>{7, 7}));
  EXPECT_EQ(as_vector(range), src);
  EXPECT_NE(a, sized);
  EXPECT_LT((SmallVector<int64_t, 4>{1, 2}), a);  // a prefix orders first, as std::vector
  EXPECT_LT(a, (SmallVector<int64_t, 4>{1, 3}));
  EXPECT_THROW(a.at(3), std::out_of_range);
}

TEST(SmallVector, CopiesAndMovesInlineAndHeap) {
  for (size_t n : {2u, 9u}) {  // inline, spilled
    SmallVector<std::string, 4> v;
    for (size_t i = 0; i < n; ++i) v.push_back("element " + std::to_string(i));
    SmallVector<std::string, 4> copy = v;
    EXPECT_EQ(copy, v);
    SmallVector<std::string, 4> moved = std::move(copy);
    EXPECT_EQ(moved, v);
    EXPECT_TRUE(copy.empty());  // NOLINT: a moved-from SmallVector is empty
    SmallVector<std::string, 4> assigned{"x"};
    assigned = v;
    EXPECT_EQ(assigned, v);
    SmallVector<std::string, 4> move_assigned(20, "y");
    move_assigned = std::move(assigned);
    EXPECT_EQ(move_assigned, v);
    const SmallVector<std::string, 4>& same = v;
    v = same;  // self-assignment keeps the elements
    EXPECT_EQ(v, move_assigned);
  }
}

TEST(SmallVector, InsertEraseResizeMatchStdVector) {
  std::mt19937 gen(3);
  SmallVector<int64_t, 5> v;
  std::vector<int64_t> ref;
  for (int step = 0; step < 2000; ++step) {
    const int op = int(gen() % 7);
    const size_t pos = ref.empty() ? 0 : gen() % (ref.size() + 1);
    const int64_t value = int64_t(gen() % 100);
    switch (op) {
      case 0:
        v.push_back(value), ref.push_back(value);
        break;
      case 1:
        v.insert(v.begin() + pos, value), ref.insert(ref.begin() + pos, value);
        break;
      case 2:
        if (!ref.empty() && pos < ref.size())
          v.erase(v.begin() + pos), ref.erase(ref.begin() + pos);
        break;
      case 3: {
        const size_t n = gen() % 12;
        v.resize(n, value), ref.resize(n, value);
        break;
      }
      case 4: {
        const std::vector<int64_t> more{value, value + 1, value + 2};
        v.insert(v.begin() + pos, more.begin(), more.end());
        ref.insert(ref.begin() + pos, more.begin(), more.end());
        break;
      }
      case 5:
        if (pos < ref.size()) {
          v.erase(v.begin() + pos, v.end()), ref.erase(ref.begin() + pos, ref.end());
        }
        break;
      case 6:
        if (!ref.empty()) v.pop_back(), ref.pop_back();
        break;
    }
    ASSERT_EQ(as_vector(v), ref) << "step " << step << ", op " << op;
  }
}

TEST(SmallVector, ArgumentsThatAliasItsOwnElements) {
  SmallVector<std::string, 2> v{"first", "second"};
  v.push_back(v[0]);  // grows while the argument is one of its elements
  v.insert(v.begin(), v.back());
  v.insert(v.end(), v.begin(), v.end());  // a range of itself
  EXPECT_EQ(as_vector(v), (std::vector<std::string>{"first", "first", "second", "first", "first",
                                                    "first", "second", "first"}));
  v.resize(20, v[1]);
  EXPECT_EQ(v[19], "first");
  v.erase(v.begin() + 2, v.begin() + 2);  // an empty range changes nothing
  EXPECT_EQ(v.size(), 20u);
  EXPECT_EQ(v[2], "second");
}

TEST(SmallVector, ElementsAreDestroyedExactlyOnce) {
  auto counter = std::make_shared<int>(0);
  {
    SmallVector<std::shared_ptr<int>, 3> v;
    for (int i = 0; i < 10; ++i) v.push_back(counter);
    EXPECT_EQ(counter.use_count(), 11);
    v.erase(v.begin() + 2, v.begin() + 5);
    EXPECT_EQ(counter.use_count(), 8);
    SmallVector<std::shared_ptr<int>, 3> moved = std::move(v);
    EXPECT_EQ(counter.use_count(), 8);
    moved.resize(2);
    EXPECT_EQ(counter.use_count(), 3);
    SmallVector<std::shared_ptr<int>, 3> copy = moved;
    EXPECT_EQ(counter.use_count(), 5);
    copy.clear();
    EXPECT_EQ(counter.use_count(), 3);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

}  // namespace
