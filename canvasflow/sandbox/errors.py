"""What user code's failures look like to the node that ran it."""


class SandboxError(Exception):
    """User code failed, ran too long, used too much memory, or was refused."""
