"""`mount(app)`: the dashboard's pages and static files on the API's app (`create_app`)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from provisioner.web import costs, new, pages, queue, streams
from provisioner.web.render import STATIC


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (pages, new, costs, streams, queue):
        app.include_router(module.router)
