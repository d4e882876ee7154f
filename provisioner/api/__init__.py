"""The REST API (`provisioner serve`): `create_app(settings)` builds the FastAPI app.

An edge (with cli and web): may import any layer; no layer below imports it."""
