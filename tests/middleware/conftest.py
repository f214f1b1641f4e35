from tests.middleware.fixtures import broken_client, cloaked_jpeg, fast_client, jpeg, png

__all__ = ["broken_client", "cloaked_jpeg", "fast_client", "jpeg", "png"]
