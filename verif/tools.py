"""Compatibility name for ``verif.toolchain`` (simulator discovery, the build
cache, cocotb launching); new code may import either."""

from verif.toolchain import *            # noqa: F401,F403
from verif.toolchain import __all__      # noqa: F401
