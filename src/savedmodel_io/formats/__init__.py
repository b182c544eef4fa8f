"""Readers and writers for the on-disk formats inside a SavedModel directory."""
