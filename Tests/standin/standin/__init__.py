"""The bingo stand-in as a package: bingo_standin.py (beside this folder) is
the entry point; README.md beside it documents every knob."""

VERSION = "20231121T1537"
