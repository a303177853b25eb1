// Spec-tree model builder: one table of layer types, one of zoo models, and an argument reader
// that records which keys it consumed so unknown keys are reported with a suggestion.
#include "framework/nn/models/builder.h"

#include "framework/core/text.h"
#include "framework/core/value_args.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "framework/nn/models/resnet.h"
#include "framework/nn/models/simple.h"
#include "framework/nn/models/unet.h"
#include "framework/nn/models/vgg.h"
#include "framework/nn/nn.h"

namespace tandem::nn::models {

namespace {

std::string suggestion(const std::string& name, const std::vector<std::string>& candidates) {
  std::string c = closest_match(name, candidates);
  return c.empty() ? "" : "; did you mean '" + c + "'?";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

// The shared argument reader plus PyTorch's 2-D size arguments (an int or a pair).
class Args : public ValueArgs {
 public:
  using ValueArgs::ValueArgs;
  static Size2 to_size2(const Value& f, const std::string& where) {
    if (f.is_int()) return Size2(f.to_int());
    TANDEM_CHECK((f.is_list() || f.is_tuple()) && f.size() == 2 && f.items()[0].is_int() &&
                     f.items()[1].is_int(),
                 where, ": expected an integer or a pair of integers, got ", f.repr());
    return Size2(f.items()[0].to_int(), f.items()[1].to_int());
  }
  Size2 size2(const std::string& key, std::optional<Size2> def = std::nullopt) {
    const Value* f = get(key);
    if (!f) {
      if (!def) fail_missing(key);
      return *def;
    }
    return to_size2(*f, at(key));
  }
  // An adaptive pool's output_size: an int, or a pair whose entries may be null (PyTorch's None:
  // the input's size along that axis), as `output_size: [null, 7]`.
  AdaptiveSize2 adaptive_size2(const std::string& key) {
    const Value* f = get(key);
    if (!f) fail_missing(key);
    if (f->is_int()) return AdaptiveSize2(f->to_int());
    auto entry = [](const Value& v) { return v.is_int() || v.is_none(); };
    TANDEM_CHECK((f->is_list() || f->is_tuple()) && f->size() == 2 && entry(f->items()[0]) &&
                     entry(f->items()[1]),
                 at(key), ": expected an integer or a pair of integers or nulls, got ", f->repr());
    auto opt = [](const Value& v) {
      return v.is_none() ? std::nullopt : std::optional<int64_t>(v.to_int());
    };
    return AdaptiveSize2(opt(f->items()[0]), opt(f->items()[1]));
  }
  // An integer or null (PyTorch's None), absent meaning None.
  std::optional<int64_t> opt_int(const std::string& key) {
    const Value* f = get(key);
    if (!f) return std::nullopt;
    TANDEM_CHECK(f->is_int(), at(key), ": expected an integer or null, got ", f->repr());
    return f->to_int();
  }
  std::optional<Size2> opt_size2(const std::string& key) {
    const Value* f = get(key);
    if (!f) return std::nullopt;
    return to_size2(*f, at(key));
  }
};

using LayerFactory = std::function<ModulePtr(Args&, Generator&, const std::string&)>;

ModulePtr build_sequential(const Value* layers, Generator& gen, const std::string& path);

// Dropout and its channel variants take the same arguments (p, inplace).
template <typename DropoutModule>
LayerFactory dropout_layer() {
  return [](Args& a, Generator&, const std::string&) -> ModulePtr {
    const double p = a.float_("p", 0.5);
    return std::make_shared<DropoutModule>(p, a.bool_("inplace", false));
  };
}

const std::map<std::string, LayerFactory>& layer_table() {
  static const std::map<std::string, LayerFactory> table = {
      {"linear",
       [](Args& a, Generator& g, const std::string&) -> ModulePtr {
         LinearOptions o{a.int_("in_features"), a.int_("out_features"), a.bool_("bias", true)};
         return std::make_shared<Linear>(o, g);
       }},
      {"embedding",
       [](Args& a, Generator& g, const std::string&) -> ModulePtr {
         EmbeddingOptions o{a.int_("num_embeddings"), a.int_("embedding_dim")};
         o.padding_idx = a.opt_int("padding_idx");
         o.max_norm = a.opt_float("max_norm", std::nullopt);
         o.norm_type = a.float_("norm_type", 2.0);
         o.scale_grad_by_freq = a.bool_("scale_grad_by_freq", false);
         return std::make_shared<Embedding>(o, g);
       }},
      {"conv2d",
       [](Args& a, Generator& g, const std::string&) -> ModulePtr {
         Conv2dOptions o(a.int_("in_channels"), a.int_("out_channels"), a.size2("kernel_size"));
         o.stride = a.size2("stride", Size2(1));
         const Value* pad = a.get("padding");
         if (pad && pad->is_string())
           o.padding_str = pad->to_string();
         else if (pad)
           o.padding = Args::to_size2(*pad, a.at("padding"));
         o.dilation = a.size2("dilation", Size2(1));
         o.groups = a.int_("groups", 1);
         o.bias = a.bool_("bias", true);
         o.padding_mode = a.str_("padding_mode", "zeros");
         return std::make_shared<Conv2d>(o, g);
       }},
      {"convtranspose2d",
       [](Args& a, Generator& g, const std::string&) -> ModulePtr {
         Conv2dOptions o(a.int_("in_channels"), a.int_("out_channels"), a.size2("kernel_size"));
         o.stride = a.size2("stride", Size2(1));
         o.padding = a.size2("padding", Size2(0));
         o.output_padding = a.size2("output_padding", Size2(0));
         o.groups = a.int_("groups", 1);
         o.bias = a.bool_("bias", true);
         o.dilation = a.size2("dilation", Size2(1));
         o.padding_mode = a.str_("padding_mode", "zeros");
         return std::make_shared<ConvTranspose2d>(o, g);
       }},
      {"batchnorm1d",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         BatchNormOptions o(a.int_("num_features"));
         o.eps = a.float_("eps", 1e-5);
         o.momentum = a.opt_float("momentum", 0.1);
         o.affine = a.bool_("affine", true);
         o.track_running_stats = a.bool_("track_running_stats", true);
         return std::make_shared<BatchNorm1d>(o);
       }},
      {"batchnorm2d",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         BatchNormOptions o(a.int_("num_features"));
         o.eps = a.float_("eps", 1e-5);
         o.momentum = a.opt_float("momentum", 0.1);
         o.affine = a.bool_("affine", true);
         o.track_running_stats = a.bool_("track_running_stats", true);
         return std::make_shared<BatchNorm2d>(o);
       }},
      {"layernorm",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const std::vector<int64_t> shape = a.ints("normalized_shape");
         return std::make_shared<LayerNorm>(Shape(shape.begin(), shape.end()),
                                            a.float_("eps", 1e-5),
                                            a.bool_("elementwise_affine", true));
       }},
      {"groupnorm",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const int64_t groups = a.int_("num_groups"), channels = a.int_("num_channels");
         return std::make_shared<GroupNorm>(groups, channels, a.float_("eps", 1e-5),
                                            a.bool_("affine", true));
       }},
      {"relu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<ReLU>(a.bool_("inplace", false));
       }},
      {"leakyrelu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         double slope = a.float_("negative_slope", 0.01);
         return std::make_shared<LeakyReLU>(slope, a.bool_("inplace", false));
       }},
      {"prelu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const int64_t n = a.int_("num_parameters", 1);
         return std::make_shared<PReLU>(n, a.float_("init", 0.25));
       }},
      {"gelu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<GELU>(a.str_("approximate", "none"));
       }},
      {"silu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<SiLU>(a.bool_("inplace", false));
       }},
      {"mish",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<Mish>(a.bool_("inplace", false));
       }},
      {"elu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const double alpha = a.float_("alpha", 1.0);
         return std::make_shared<ELU>(alpha, a.bool_("inplace", false));
       }},
      {"selu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<SELU>(a.bool_("inplace", false));
       }},
      {"celu",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const double alpha = a.float_("alpha", 1.0);
         return std::make_shared<CELU>(alpha, a.bool_("inplace", false));
       }},
      {"softplus",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const double beta = a.float_("beta", 1);
         return std::make_shared<Softplus>(beta, a.float_("threshold", 20));
       }},
      {"hardsigmoid",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<Hardsigmoid>(a.bool_("inplace", false));
       }},
      {"hardswish",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<Hardswish>(a.bool_("inplace", false));
       }},
      {"sigmoid",
       [](Args&, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<Sigmoid>();
       }},
      {"tanh",
       [](Args&, Generator&, const std::string&) -> ModulePtr { return std::make_shared<Tanh>(); }},
      {"identity",
       [](Args&, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<Identity>();
       }},
      {"softmax",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const Value* d = a.get("dim");
         return std::make_shared<Softmax>(d ? std::optional<int64_t>(d->to_int()) : std::nullopt);
       }},
      {"logsoftmax",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         const Value* d = a.get("dim");
         return std::make_shared<LogSoftmax>(d ? std::optional<int64_t>(d->to_int())
                                               : std::nullopt);
       }},
      {"maxpool2d",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         MaxPool2dOptions o(a.size2("kernel_size"), a.opt_size2("stride"),
                            a.size2("padding", Size2(0)));
         o.dilation = a.size2("dilation", Size2(1));
         o.ceil_mode = a.bool_("ceil_mode", false);
         return std::make_shared<MaxPool2d>(o);
       }},
      {"avgpool2d",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         AvgPool2dOptions o(a.size2("kernel_size"), a.opt_size2("stride"),
                            a.size2("padding", Size2(0)));
         o.ceil_mode = a.bool_("ceil_mode", false);
         o.count_include_pad = a.bool_("count_include_pad", true);
         if (const Value* d = a.get("divisor_override"); d && !d->is_none())
           o.divisor_override = d->to_int();
         return std::make_shared<AvgPool2d>(o);
       }},
      {"adaptiveavgpool2d",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<AdaptiveAvgPool2d>(a.adaptive_size2("output_size"));
       }},
      // return_indices is left out: the layer's second output would reach the next layer.
      {"adaptivemaxpool2d",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         return std::make_shared<AdaptiveMaxPool2d>(a.adaptive_size2("output_size"));
       }},
      {"dropout", dropout_layer<Dropout>()},
      {"dropout1d", dropout_layer<Dropout1d>()},
      {"dropout2d", dropout_layer<Dropout2d>()},
      {"dropout3d", dropout_layer<Dropout3d>()},
      {"flatten",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         int64_t s = a.int_("start_dim", 1);
         return std::make_shared<Flatten>(s, a.int_("end_dim", -1));
       }},
      {"upsample",
       [](Args& a, Generator&, const std::string&) -> ModulePtr {
         UpsampleOptions o;
         o.size = a.opt_size2("size");
         if (const Value* sf = a.get("scale_factor"); sf && !sf->is_none()) {
           if (sf->is_list() || sf->is_tuple()) {  // per axis, as PyTorch's (h, w) tuple
             TANDEM_CHECK(
                 sf->size() == 2 && sf->items()[0].is_number() && sf->items()[1].is_number(),
                 a.at("scale_factor"), ": expected a number or a pair of numbers, got ",
                 sf->repr());
             o.scale_factor = Scale2(sf->items()[0].to_double(), sf->items()[1].to_double());
           } else {
             o.scale_factor = sf->to_double();
           }
         }
         o.mode = a.str_("mode", "nearest");
         if (const Value* ac = a.get("align_corners"); ac && !ac->is_none())
           o.align_corners = ac->to_bool();
         if (const Value* r = a.get("recompute_scale_factor"); r && !r->is_none())
           o.recompute_scale_factor = r->to_bool();
         return std::make_shared<Upsample>(o);
       }},
      {"sequential",
       [](Args& a, Generator& g, const std::string& path) -> ModulePtr {
         return build_sequential(a.get("layers"), g, path + ".layers");
       }},
  };
  return table;
}

ModulePtr build_sequential(const Value* layers, Generator& gen, const std::string& path) {
  TANDEM_CHECK(layers != nullptr, path,
               ": missing 'layers' (a list, or a mapping of named layers)");
  auto seq = std::make_shared<Sequential>();
  if (layers->is_list() || layers->is_tuple()) {
    for (size_t i = 0; i < layers->items().size(); ++i)
      seq->push_back(build_layer(layers->items()[i], gen, path + "[" + std::to_string(i) + "]"));
  } else if (layers->is_dict()) {
    for (const auto& [k, v] : layers->dict_items()) {
      TANDEM_CHECK(k.is_string(), path, ": layer names must be strings, got ", k.repr());
      seq->push_back(k.to_string(), build_layer(v, gen, path + "." + k.to_string()));
    }
  } else {
    TANDEM_FAIL(path, ": expected a list of layers or a mapping of named layers, got ",
                layers->kind());
  }
  return seq;
}

using ZooFactory = std::function<ModulePtr(Args&, Generator&)>;

const std::map<std::string, ZooFactory>& zoo_table() {
  static const std::map<std::string, ZooFactory> table = {
      {"mlp",
       [](Args& a, Generator& g) -> ModulePtr {
         MLPOptions o;
         o.in_features = a.int_("in_features", o.in_features);
         o.hidden = a.int_list("hidden", o.hidden);
         o.num_classes = a.int_("num_classes", o.num_classes);
         o.dropout = a.float_("dropout", 0.0);
         return mlp(o, g);
       }},
      {"simple_cnn",
       [](Args& a, Generator& g) -> ModulePtr {
         SimpleCNNOptions o;
         o.in_channels = a.int_("in_channels", o.in_channels);
         o.num_classes = a.int_("num_classes", o.num_classes);
         o.image_size = a.int_("image_size", o.image_size);
         return simple_cnn(o, g);
       }},
      {"resnet18",
       [](Args& a, Generator& g) -> ModulePtr {
         ResNetOptions o;
         o.num_classes = a.int_("num_classes", 1000);
         o.in_channels = a.int_("in_channels", 3);
         o.zero_init_residual = a.bool_("zero_init_residual", false);
         return resnet18(o, g);
       }},
      {"resnet34",
       [](Args& a, Generator& g) -> ModulePtr {
         ResNetOptions o;
         o.num_classes = a.int_("num_classes", 1000);
         o.in_channels = a.int_("in_channels", 3);
         o.zero_init_residual = a.bool_("zero_init_residual", false);
         return resnet34(o, g);
       }},
      {"resnet50",
       [](Args& a, Generator& g) -> ModulePtr {
         ResNetOptions o;
         o.num_classes = a.int_("num_classes", 1000);
         o.in_channels = a.int_("in_channels", 3);
         o.zero_init_residual = a.bool_("zero_init_residual", false);
         return resnet50(o, g);
       }},
      {"vgg11_bn",
       [](Args& a, Generator& g) -> ModulePtr {
         VGGOptions o;
         o.num_classes = a.int_("num_classes", 1000);
         o.in_channels = a.int_("in_channels", 3);
         o.dropout = a.float_("dropout", 0.5);
         return vgg11_bn(o, g);
       }},
      {"unet",
       [](Args& a, Generator& g) -> ModulePtr {
         UNetOptions o;
         o.n_channels = a.int_("n_channels", 3);
         o.n_classes = a.int_("n_classes", 2);
         o.bilinear = a.bool_("bilinear", false);
         o.width = a.int_("width", 64);
         return unet(o, g);
       }},
  };
  return table;
}

}  // namespace

std::vector<std::string> zoo_model_names() {
  std::vector<std::string> out;
  for (auto& [k, v] : zoo_table()) out.push_back(k);
  return out;
}

std::vector<std::string> layer_type_names() {
  std::vector<std::string> out;
  for (auto& [k, v] : layer_table()) out.push_back(k);
  return out;
}

ModulePtr build_layer(const Value& spec, Generator& gen, const std::string& path) {
  std::string type;
  const Value* args = nullptr;
  if (spec.is_string()) {
    type = spec.to_string();
  } else if (spec.is_dict() && spec.size() == 1 && spec.dict_items()[0].first.is_string()) {
    type = spec.dict_items()[0].first.to_string();
    args = &spec.dict_items()[0].second;
  } else {
    TANDEM_FAIL(path,
                ": a layer is a type name (\"relu\") or a one-key mapping "
                "({conv2d: {in_channels: ...}}), got ",
                spec.repr());
  }
  std::string type_path = path + "." + type;
  auto it = layer_table().find(type);
  if (it == layer_table().end())
    throw Error(path + ": unknown layer type '" + type + "'" + suggestion(type, layer_type_names()),
                "layer types are PyTorch class names in lower case: " + join(layer_type_names()));
  // {sequential: [...]} is shorthand for {sequential: {layers: [...]}}
  if (type == "sequential" && args &&
      (args->is_list() || (args->is_dict() && !args->contains(Value("layers")))))
    return build_sequential(args, gen, type_path);
  Args a(args, type_path);
  ModulePtr m = it->second(a, gen, type_path);
  a.finish();
  return m;
}

ModulePtr build_model(const Value& spec, Generator& gen, const std::string& path) {
  std::vector<std::string> names = zoo_model_names();
  names.push_back("sequential");
  if (spec.is_string()) {  // "resnet18": a zoo model with default arguments
    Value d = Value::dict();
    d.set(Value("name"), spec);
    return build_model(d, gen, path);
  }
  TANDEM_CHECK(spec.is_dict(), path, ": expected a mapping with 'name', got ", spec.kind());
  const Value* name_v = spec.find(Value("name"));
  TANDEM_CHECK(name_v && name_v->is_string(), path, ": missing 'name' (one of ", join(names), ")");
  const std::string& name = name_v->to_string();
  // The arguments are the mapping without 'name'.
  Value args = Value::dict();
  for (const auto& [k, v] : spec.dict_items())
    if (!(k.is_string() && k.to_string() == "name")) args.set(k, v);
  if (name == "sequential") {
    Args a(&args, path);
    ModulePtr m = build_sequential(a.get("layers"), gen, path + ".layers");
    a.finish();
    return m;
  }
  auto it = zoo_table().find(name);
  if (it == zoo_table().end())
    throw Error(path + ".name: unknown model '" + name + "'" + suggestion(name, names),
                "models: " + join(names));
  Args a(&args, path);
  ModulePtr m = it->second(a, gen);
  a.finish();
  return m;
}

}  // namespace tandem::nn::models
