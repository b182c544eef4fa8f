// Test oracle: TensorFlow's own C++ Merger (from libtensorflow_framework.so.2 in the
// tensorflow wheel) reassembles a chunked proto; we print the merged message's bytes.
//
//   cpb_merger_oracle savedmodel|graphdef FILE.cpb OUT.pb   (Merger::ReadChunkedFromString)
//   cpb_merger_oracle savedmodel|graphdef PREFIX OUT.pb     (Merger::Read: PREFIX.cpb or .pb)
//   ... --summary   for protos over 2 GB (which protobuf cannot serialize): prints one line
//                   "name<TAB>bytes<TAB>weighted sum" per node of meta_graphs[0].graph_def (or the
//                   GraphDef) that has attr["value"].tensor, clears those tensor_contents and
//                   writes the rest to OUT.pb.
//
// The wheel exports the Merger symbols but ships no merge.h, so the two static methods used
// here are declared by hand (signatures from tensorflow/tools/proto_splitter/merge.h).
// Exit status: 0 merged, 1 TensorFlow rejected the input, 2 usage or I/O error.
// stderr gets "merge_seconds S": the time of the Merger call alone (for .cpb input the file is
// read into memory first, outside the timing; the prefix form reads it inside).
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/protobuf/saved_model.pb.h"

namespace tensorflow::tools::proto_splitter {
class Merger {
 public:
  static absl::Status ReadChunkedFromString(absl::string_view data,
                                            google::protobuf::Message* merged_message);
  static absl::Status Read(std::string prefix, google::protobuf::Message* merged_message);
};
}  // namespace tensorflow::tools::proto_splitter

namespace {

// Position-weighted sum of the little-endian uint64 words (a zero-padded tail makes the last
// word), mod 2**64: cheap here and in numpy, and it notices moved or changed words.
uint64_t WeightedSum64(const std::string& data) {
  uint64_t sum = 0, i = 0;
  size_t pos = 0;
  for (; pos + 8 <= data.size(); pos += 8) {
    uint64_t word = 0;
    for (int b = 7; b >= 0; --b) word = (word << 8) | static_cast<unsigned char>(data[pos + b]);
    sum += word * ++i;
  }
  if (pos < data.size()) {
    uint64_t word = 0;
    for (size_t b = data.size(); b-- > pos;) word = (word << 8) | static_cast<unsigned char>(data[b]);
    sum += word * ++i;
  }
  return sum;
}

void SummarizeAndClear(tensorflow::GraphDef* graph) {
  for (auto& node : *graph->mutable_node()) {
    auto it = node.mutable_attr()->find("value");
    if (it == node.mutable_attr()->end() || !it->second.has_tensor()) continue;
    std::string* content = it->second.mutable_tensor()->mutable_tensor_content();
    std::cout << node.name() << "\t" << content->size() << "\t" << WeightedSum64(*content) << "\n";
    content->clear();
    content->shrink_to_fit();
  }
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 5 && std::string(argv[4]) == "--summary")) {
    std::cerr << "usage: " << argv[0] << " savedmodel|graphdef INPUT OUT.pb [--summary]\n";
    return 2;
  }
  const bool summary = argc == 5;
  const std::string kind = argv[1], input = argv[2], output = argv[3];
  tensorflow::SavedModel saved_model;
  tensorflow::GraphDef graph_def;
  google::protobuf::Message* target = nullptr;
  if (kind == "savedmodel") {
    target = &saved_model;
  } else if (kind == "graphdef") {
    target = &graph_def;
  } else {
    std::cerr << "unknown message kind: " << kind << "\n";
    return 2;
  }

  absl::Status status;
  auto start = std::chrono::steady_clock::now();
  if (EndsWith(input, ".cpb")) {
    std::ifstream in(input, std::ios::binary | std::ios::ate);
    if (!in) {
      std::cerr << "cannot open " << input << "\n";
      return 2;
    }
    std::string data(static_cast<size_t>(in.tellg()), '\0');
    in.seekg(0);
    if (!in.read(data.data(), static_cast<std::streamsize>(data.size()))) {
      std::cerr << "cannot read " << input << "\n";
      return 2;
    }
    start = std::chrono::steady_clock::now();
    status = tensorflow::tools::proto_splitter::Merger::ReadChunkedFromString(data, target);
  } else {
    status = tensorflow::tools::proto_splitter::Merger::Read(input, target);
  }
  if (!status.ok()) {
    std::cerr << "MERGE FAILED: " << status.ToString() << "\n";
    return 1;
  }
  std::cerr << "merge_seconds "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
            << "\n";

  if (summary) {
    if (target == &graph_def) {
      SummarizeAndClear(&graph_def);
    } else if (saved_model.meta_graphs_size() > 0) {
      SummarizeAndClear(saved_model.mutable_meta_graphs(0)->mutable_graph_def());
    }
  }
  std::string bytes;
  if (!target->SerializeToString(&bytes)) {
    std::cerr << "cannot serialize the merged message\n";
    return 2;
  }
  std::ofstream out(output, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out ? 0 : 2;
}
