// Writes a safetensors file with a tensor "input" of 3 synthetic 1x8x8 examples, for the
// `tandem predict` check in resume.sh.
#include "framework/io/safetensors.h"
#include "framework/tensor/factories.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  tandem::Generator gen(5);
  tandem::io::TensorMap m;
  m.insert("input", tandem::rand({3, 1, 8, 8}, gen));
  tandem::io::save_safetensors(argv[1], m);
  return 0;
}
