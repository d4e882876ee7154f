"""The REST API (`provisioner serve`): `create_app(settings)` builds the FastAPI app."""
