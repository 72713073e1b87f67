"""The HTTP server: routes, request/response models, the wire formats."""
