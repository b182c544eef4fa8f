"""Graphs: build GraphDefs/FunctionDefs (builder, shapes) and run them (runtime, ops)."""
