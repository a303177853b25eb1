// Value trees survive the JSON + named-tensors split used by checkpoints.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/io/value_json.h"
#include "framework/tensor/factories.h"

using namespace tandem;

TEST(ValueJson, OptimizerStateRoundTrip) {
  Value state = Value::dict();
  Value p0 = Value::dict();
  p0.set("step", Value(scalar_tensor(3)));
  p0.set("exp_avg", Value(tensor({1, 2})));
  state.set(Value(int64_t(0)), p0);
  Value group = Value::dict();
  group.set("lr", 0.1);
  group.set("betas", Value::tuple({Value(0.9), Value(0.999)}));
  group.set("amsgrad", false);
  group.set("foreach", Value());
  group.set("best", Value(-INFINITY));
  group.set("params", Value(Value::List{Value(int64_t(0))}));
  Value sd = Value::dict();
  sd.set("state", state);
  sd.set("param_groups", Value(Value::List{group}));

  OrderedDict<std::string, Tensor> tensors;
  auto j = io::value_to_json(sd, "optimizer", tensors);
  EXPECT_EQ(tensors.keys(),
            (std::vector<std::string>{"optimizer/state/0/step", "optimizer/state/0/exp_avg"}));
  Value back = io::value_from_json(j.dump(), tensors, "test");
  EXPECT_EQ(back.repr(), sd.repr());
  EXPECT_TRUE(back.at("state").dict_items()[0].first.is_int());
  EXPECT_TRUE(back.at("param_groups").items()[0].at("betas").is_tuple());
  EXPECT_TRUE(back.at("state")
                  .at(Value(int64_t(0)))
                  .at("exp_avg")
                  .to_tensor()
                  .is_same(p0.at("exp_avg").to_tensor()));
  EXPECT_EQ(back.at("param_groups").items()[0].at("best").to_double(), -INFINITY);
}
