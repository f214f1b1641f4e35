"""Ray Serve application: HTTP ingress and autoscaled cloak workers (needs the ``serve`` extra)."""
