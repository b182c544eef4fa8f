"""Generated protobuf bindings (tools/gen_protos.py)."""
