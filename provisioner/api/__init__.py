"""The REST API: `create_api(settings)` builds its FastAPI app (`provisioner.asgi` adds the
dashboard for `serve`).

The lowest edge: may import every layer below the edges, never web/, asgi or cli/."""
