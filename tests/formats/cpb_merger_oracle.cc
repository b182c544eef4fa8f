// Test oracle: TensorFlow's own C++ Merger (from libtensorflow_framework.so.2 in the
// tensorflow wheel) reassembles a chunked proto; we print the merged message's bytes.
//
//   cpb_merger_oracle savedmodel|graphdef FILE.cpb OUT.pb   (Merger::ReadChunkedFromString)
//   cpb_merger_oracle savedmodel|graphdef PREFIX OUT.pb     (Merger::Read: PREFIX.cpb or .pb)
//
// The wheel exports the Merger symbols but ships no merge.h, so the two static methods used
// here are declared by hand (signatures from tensorflow/tools/proto_splitter/merge.h).
// Exit status: 0 merged, 1 TensorFlow rejected the input, 2 usage or I/O error.
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

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " savedmodel|graphdef INPUT OUT.pb\n";
    return 2;
  }
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

  std::string bytes;
  if (!target->SerializeToString(&bytes)) {
    std::cerr << "cannot serialize the merged message\n";
    return 2;
  }
  std::ofstream out(output, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out ? 0 : 2;
}
