"""Entry point of the simulator process: ``python -m rtlcnn.mock.launch <json>``.

Runs the already built ``rtlcnn_top`` model under cocotb with :mod:`rtlcnn.mock.server`
as the test module. :class:`rtlcnn.mock.MockOverlay` starts this in its own process
group and talks to it over a Unix socket; nothing here is meant to be run by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def main(argv=None) -> int:
    args = json.loads((argv or sys.argv)[1])
    from cocotb_tools.runner import get_runner

    from rtlcnn.sim.toolchain import setup_env

    setup_env()
    parent = os.getppid()
    runner = get_runner(args["sim"])
    runner.test(
        test_module="rtlcnn.mock.server",
        hdl_toplevel=args["toplevel"],
        hdl_toplevel_lang="verilog",
        build_dir=args["build_dir"],
        test_dir=args["test_dir"],
        extra_env={"RTLCNN_MOCK_CONFIG": json.dumps(args["config"]),
                   "COCOTB_RESOLVE_X": "ZEROS",
                   # the server has no asserts: skip pytest's rewriting (seconds of start-up)
                   "COCOTB_REWRITE_ASSERTION_FILES": ""},
    )
    if os.getppid() != parent:  # the user's process died without closing: clean up for it
        shutil.rmtree(args["test_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
