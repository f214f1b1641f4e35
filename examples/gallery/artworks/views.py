"""Pages of the Palette gallery. Uploads arrive already cloaked: the stylecloak middleware ran first."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET
from django.views.static import serve
from stylecloak.rights import RightsPolicy, http_headers, tdmrep_json

from artworks.forms import ArtworkForm, SignUpForm
from artworks.models import Artwork

RIGHTS = RightsPolicy.from_env()
# Crawlers that collect training data and honour robots.txt.
AI_CRAWLERS = ["GPTBot", "ClaudeBot", "CCBot", "Google-Extended", "Applebot-Extended", "Bytespider", "img2dataset"]


def explore(request: HttpRequest) -> HttpResponse:
    artworks = Artwork.objects.select_related("owner")[:48]
    total = Artwork.objects.count()
    protected = Artwork.objects.filter(protection=Artwork.Protection.PROTECTED).count()
    context = {
        "artworks": artworks,
        "artwork_count": total,
        "artist_count": User.objects.filter(artworks__isnull=False).distinct().count(),
        "protected_share": round(100 * protected / total) if total else 100,
    }
    return render(request, "artworks/explore.html", context)


@login_required
def my_gallery(request: HttpRequest) -> HttpResponse:
    return redirect("artist", username=request.user.get_username())


def artist(request: HttpRequest, username: str) -> HttpResponse:
    owner = get_object_or_404(User, username=username)
    artworks = owner.artworks.all()  # type: ignore[attr-defined]
    protected = sum(1 for artwork in artworks if artwork.protected)
    context = {"owner": owner, "artworks": artworks, "protected": protected, "is_owner": request.user == owner}
    return render(request, "artworks/artist.html", context)


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    form = ArtworkForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        artwork = form.save(commit=False)
        artwork.owner = request.user
        uploaded = request.FILES["image"]
        uploaded.seek(0)
        artwork.record(uploaded.read(), getattr(uploaded, "stylecloak", None))
        uploaded.seek(0)
        artwork.save()
        if artwork.protected:
            messages.success(request, f"“{artwork.title}” is up, protected against style mimicry.")
        else:
            messages.warning(request, f"“{artwork.title}” is up, but not protected yet: we will retry.")
        return redirect(artwork)
    return render(request, "artworks/upload.html", {"form": form})


def artwork_page(request: HttpRequest, pk: int) -> HttpResponse:
    artwork = get_object_or_404(Artwork.objects.select_related("owner"), pk=pk)
    more = artwork.owner.artworks.exclude(pk=pk)[:4]  # type: ignore[attr-defined]
    context = {"artwork": artwork, "is_owner": request.user == artwork.owner, "more": more}
    return render(request, "artworks/artwork.html", context)


def _private(request: HttpRequest, pk: int, field: str) -> FileResponse:
    artwork = get_object_or_404(Artwork, pk=pk)
    stored = getattr(artwork, field)
    if request.user != artwork.owner or not stored:
        raise Http404("not found")
    response = FileResponse(stored.open("rb"))
    response["Cache-Control"] = "private, no-store"
    for name, value in http_headers(RIGHTS).items():
        response[name] = value
    return response


@login_required
def original(request: HttpRequest, pk: int) -> FileResponse:
    return _private(request, pk, "original")


@login_required
def difference(request: HttpRequest, pk: int) -> FileResponse:
    return _private(request, pk, "difference")


@require_GET
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Public (cloaked) images, with the do-not-train headers. A real deployment serves these from a CDN."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    for name, value in http_headers(RIGHTS).items():
        response[name] = value
    return response


@require_GET
def tdmrep(request: HttpRequest) -> HttpResponse:
    return HttpResponse(tdmrep_json(RIGHTS), content_type="application/json")


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [line for agent in AI_CRAWLERS for line in (f"User-agent: {agent}", "Disallow: /", "")]
    return HttpResponse("\n".join([*lines, "User-agent: *", "Allow: /", ""]), content_type="text/plain")


def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        messages.success(request, f"Welcome to Palette, {user.get_username()}. Upload your first artwork.")
        return redirect("upload")
    return render(request, "registration/signup.html", {"form": form})
