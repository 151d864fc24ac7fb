"""The agent's tests import its package from libexec/ (no PostgreSQL, no vipd)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "libexec"))
