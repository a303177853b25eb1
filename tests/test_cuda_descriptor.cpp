// Descriptor (kernels/cuda/descriptor.h), the owner of cuDNN's and cuBLASLt's descriptors, with a
// fake library: every handle a Create call gives is destroyed exactly once, when its owner goes,
// is moved over or is created into again, so a plan built halfway before an error leaks nothing.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <utility>

#include "kernels/cuda/descriptor.h"

namespace {

struct FakeDesc {
  int id;
};
using FakeHandle = FakeDesc*;

std::set<int> live;  // ids created and not yet destroyed

int fake_create(FakeHandle* out) {
  static int next = 0;
  *out = new FakeDesc{++next};
  live.insert((*out)->id);
  return 0;
}
int fake_destroy(FakeHandle h) {
  EXPECT_EQ(live.erase(h->id), 1u) << "descriptor " << h->id << " destroyed twice";
  delete h;
  return 0;
}

using Desc = tandem::kernels::cuda::Descriptor<FakeHandle, fake_destroy>;

int id_of(FakeHandle h) { return h ? h->id : 0; }

}  // namespace

TEST(CudaDescriptor, EachHandleIsDestroyedOnceWhateverHappensToItsOwner) {
  live.clear();
  {
    Desc a;
    EXPECT_EQ(static_cast<FakeHandle>(a), nullptr);
    fake_create(a.out());
    const int first = id_of(a);
    fake_create(a.out());  // creating into a held descriptor destroys the old one
    EXPECT_EQ(live.count(first), 0u);
    Desc b(std::move(a));
    EXPECT_EQ(static_cast<FakeHandle>(a), nullptr);
    Desc c;
    fake_create(c.out());
    c = std::move(b);  // c's own handle goes, b's moves in
    EXPECT_EQ(live.size(), 1u);
    EXPECT_EQ(live.count(id_of(c)), 1u);
  }
  EXPECT_TRUE(live.empty());
}

TEST(CudaDescriptor, APlanThatFailsHalfwayLeaksNothing) {
  live.clear();
  struct Plan {
    Desc x, w, conv;
  };
  EXPECT_THROW(
      {
        Plan p;
        fake_create(p.x.out());
        fake_create(p.w.out());
        throw std::runtime_error("cuDNN offers no algorithm");
      },
      std::runtime_error);
  EXPECT_TRUE(live.empty());
}
