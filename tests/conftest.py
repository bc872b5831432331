"""Suite-wide settings: hypothesis draws the same examples on every run (derandomize), so a CI result
is reproducible; SLIMIR_HYPOTHESIS_RANDOM=1 turns the random search back on for a bug hunt."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("slimir-ci", derandomize=True, print_blob=True)
settings.register_profile("slimir-hunt", derandomize=False, print_blob=True)
settings.load_profile("slimir-hunt" if os.environ.get("SLIMIR_HYPOTHESIS_RANDOM") == "1" else "slimir-ci")
