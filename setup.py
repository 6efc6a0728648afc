"""Build the optional C extension ``livegen._jackmidi`` (everything else is in pyproject.toml).

It gives livegen one JACK client for both MIDI ports (livegen/ports/jack.py). It is
optional: without a C compiler or JACK's headers (Debian: libjack-jackd2-dev) the
install goes on, with a warning, and livegen's JACK ports use python-rtmidi's (one
JACK client per port; `livegen run` logs a warning).
"""

import sys

from setuptools import Extension, setup

ext_modules = []
if sys.platform.startswith("linux"):
    ext_modules.append(Extension("livegen._jackmidi", ["livegen/_jackmidi.c"], libraries=["jack"],
                                 extra_compile_args=["-std=c11", "-O2", "-Wall"], optional=True))

setup(ext_modules=ext_modules)
