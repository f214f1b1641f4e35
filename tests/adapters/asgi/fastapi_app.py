"""The FastAPI example from docs/middleware.md, as the app under test.

uvicorn tests.adapters.asgi.fastapi_app:app
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, UploadFile
from stylecloak import is_cloaked
from stylecloak.adapters.asgi import StylecloakMiddleware, Uploads, status_of
from stylecloak.middleware import Outcome, UploadPolicy


def create_app(*, policy: UploadPolicy | None = None, client: Any = None) -> FastAPI:
    app = FastAPI(title="Artworks")
    app.add_middleware(StylecloakMiddleware, policy=policy, client=client)  # the one line

    @app.post("/artworks")
    async def create_artwork(
        title: Annotated[str, Form()],
        image: Annotated[UploadFile, File()],
        done: Annotated[list[Outcome], Depends(Uploads)],
        notes: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        data = await image.read()
        extra = await notes.read() if notes is not None else b""
        return {
            "title": title,
            "filename": image.filename,
            "status": status_of(image),
            "cloaked": is_cloaked(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "notes_sha256": hashlib.sha256(extra).hexdigest() if notes is not None else None,
            "outcomes": [outcome.status for outcome in done],
        }

    return app


app = create_app()
