"""The dashboard served by `provisioner serve`: templates, vendored static assets, page routes.

An edge above api/ (whose handlers it reuses): may import api/ and every layer below; never
asgi or cli/. `provisioner.asgi` mounts it."""
