"""The Django site under test: views that report exactly what they received."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import path
from stylecloak import is_cloaked
from stylecloak.adapters.django import stylecloak_exempt

#: Every request a view ran for: a refused request never gets here.
CALLS: list[str] = []


def artist_from_header(request: HttpRequest) -> str | None:
    return request.headers.get("X-Artist")


def describe(uploaded: Any) -> dict[str, Any]:
    data = uploaded.read()
    uploaded.seek(0)
    info = {
        "name": uploaded.name,
        "kind": type(uploaded).__name__,
        "size": uploaded.size,
        "sha256": hashlib.sha256(data).hexdigest(),
        "cloaked": is_cloaked(data),
        "status": getattr(getattr(uploaded, "stylecloak", None), "status", None),
    }
    if isinstance(uploaded, TemporaryUploadedFile):
        with open(uploaded.temporary_file_path(), "rb") as disk:
            info["on_disk_matches"] = disk.read() == data
    return info


def upload(request: HttpRequest) -> JsonResponse:
    CALLS.append("upload")
    files = {field: [describe(f) for f in request.FILES.getlist(field)] for field in request.FILES}
    return JsonResponse({"fields": dict(request.POST.items()), "files": files})


def token(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"token": get_token(request)})


@stylecloak_exempt
def save(request: HttpRequest) -> JsonResponse:
    """The middleware leaves this view alone; the storage wrapper cloaks on save."""
    CALLS.append("save")
    uploaded = request.FILES["artwork"]
    name = default_storage.save("art/" + (uploaded.name or "upload"), uploaded)
    with default_storage.open(name) as stored:
        data = stored.read()
    return JsonResponse({"name": name, "cloaked": is_cloaked(data), "sha256": hashlib.sha256(data).hexdigest()})


def image(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"\x89PNG\r\n\x1a\n", content_type="image/png")


urlpatterns = [
    path("upload", upload),
    path("token", token),
    path("save", save),
    path("media/a.png", image),
]
