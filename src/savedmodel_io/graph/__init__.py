"""Graphs: build GraphDefs/FunctionDefs (builder) and their static shape rules (shapes)."""
