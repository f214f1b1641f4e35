"""Django adapter: upload middleware and storage wrapper (needs the ``django`` extra)."""
