"""Where ../shared/third_party (the third-party sources the tests may build) is:
$VIPD_THIRD_PARTY, else beside the repository (REPO/../shared/third_party, as
the developers' guide lays it out), else /work/shared/third_party. A clone
elsewhere still finds the one copy the machine has."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def path(name):
    """The file NAME in the first third_party directory that has it; None if none does."""
    candidates = [os.environ.get("VIPD_THIRD_PARTY"), os.path.join(os.path.dirname(REPO), "shared", "third_party"),
                  "/work/shared/third_party"]
    for directory in filter(None, candidates):
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate):
            return candidate
    return None
