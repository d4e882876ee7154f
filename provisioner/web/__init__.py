"""The dashboard served by `provisioner serve`: templates, vendored static assets, page routes.

An edge (with api and cli): may import any layer; no layer below imports it."""
