"""Helpers the tests share (not tests themselves): synthetic run directories and the scripted fake
engine's data and script. The fixtures built on them are in the conftest files."""
