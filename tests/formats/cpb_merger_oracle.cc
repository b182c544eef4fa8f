// Test oracle: TensorFlow's own C++ Merger (from libtensorflow_framework.so.2 in the
// tensorflow wheel) reassembles a chunked proto; we print the merged message's bytes.
//
//   cpb_merger_oracle savedmodel|graphdef FILE.cpb OUT.pb   (Merger::ReadChunkedFromString)
//   cpb_merger_oracle savedmodel|graphdef PREFIX OUT.pb     (Merger::Read: PREFIX.cpb or .pb)
//   ... --summary   for protos over 2 GB (which protobuf cannot serialize): prints one line
//                   "name<TAB>bytes<TAB>fnv1a64" per node of meta_graphs[0].graph_def (or the
//                   GraphDef) that has attr["value"].tensor, clears those tensor_contents and
//                   writes the rest to OUT.pb.
//
// The wheel exports the Merger symbols but ships no merge.h, so the two static methods used
// here are declared by hand (signatures from tensorflow/tools/proto_splitter/merge.h).
// Exit status: 0 merged, 1 TensorFlow rejected the input, 2 usage or I/O error.
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
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

uint64_t Fnv1a64(const std::string& data) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void SummarizeAndClear(tensorflow::GraphDef* graph) {
  for (auto& node : *graph->mutable_node()) {
    auto it = node.mutable_attr()->find("value");
    if (it == node.mutable_attr()->end() || !it->second.has_tensor()) continue;
    std::string* content = it->second.mutable_tensor()->mutable_tensor_content();
    std::cout << node.name() << "\t" << content->size() << "\t" << Fnv1a64(*content) << "\n";
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
  if (EndsWith(input, ".cpb")) {
    std::ifstream in(input, std::ios::binary);
    if (!in) {
      std::cerr << "cannot open " << input << "\n";
      return 2;
    }
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    status = tensorflow::tools::proto_splitter::Merger::ReadChunkedFromString(data, target);
  } else {
    status = tensorflow::tools::proto_splitter::Merger::Read(input, target);
  }
  if (!status.ok()) {
    std::cerr << "MERGE FAILED: " << status.ToString() << "\n";
    return 1;
  }

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
