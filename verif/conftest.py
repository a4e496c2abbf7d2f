"""pytest glue for the cocotb suites: one seed per session, shown in the header.

The controller picks ``RADIX4_SEED`` (or takes it from the environment) in
``pytest_configure``, before xdist starts its workers, which inherit it.
"""

import os
import random


def pytest_configure(config):
    if not os.environ.get("RADIX4_SEED", "").strip():
        os.environ["RADIX4_SEED"] = str(random.SystemRandom().randrange(1 << 31))


def pytest_report_header(config):
    return [f"radix4 cocotb benches: RADIX4_SEED={os.environ['RADIX4_SEED']} "
            "(set it to replay), WAVES=1 dumps waves"]
