#!/usr/bin/env python3
"""bingo stand-in -- a TEST FIXTURE that behaves like the real, unkind bingo
binary (/work/shared/bingo.md) on a real PostgreSQL. The code is in the
package standin/ beside this file; every knob is in README.md."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from standin.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
