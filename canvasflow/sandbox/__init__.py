"""Where canvas authors' code runs: never in the server process, never with its rights.

- JavaScript (Flowise's custom tools and custom functions): a V8 isolate (mini-racer)
  in a child process with no environment, a memory limit enforced by the isolate, and
  the whole process group killed at the deadline. The code has no ``require`` (but a
  ``node-fetch`` shim), no ``process``, no filesystem; its ``fetch`` is bridged to the
  server, which calls only the allowed hosts.
- Python (only when the operator turns it on): a bubblewrap sandbox with no network, a
  read-only minimal filesystem, none of the server's environment; refused where no
  such sandbox exists.
"""

from canvasflow.sandbox.errors import SandboxError
from canvasflow.sandbox.js import run_js
from canvasflow.sandbox.net import HostNotAllowed, allowed_fetch, host_allowed, sandbox_fetch
from canvasflow.sandbox.python import python_sandbox_available, run_python

__all__ = [
    "HostNotAllowed",
    "SandboxError",
    "allowed_fetch",
    "host_allowed",
    "python_sandbox_available",
    "run_js",
    "run_python",
    "sandbox_fetch",
]
