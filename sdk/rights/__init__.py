"""Machine-readable "do not train" signals: IPTC/PLUS XMP, C2PA, HTTP headers (see the rights issue)."""
