"""One module per emulated Google service; each exposes ``register(router, emulator)``."""
