"""The HTTP face: an ASGI app whose routes parse a request, call read/, and render the same JSON as the CLI."""
