"""Django configured once for these tests (no database): CSRF on, the stylecloak middleware after it."""

from __future__ import annotations

import tempfile

import pytest

pytest.importorskip("django")

import django
from django.conf import settings

from tests.middleware.fixtures import broken_client, cloaked_jpeg, engine_client, fast_client, jpeg, png

HERE = __file__.rsplit("/", 1)[0]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="stylecloak-tests-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="tests.adapters.django.site",
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        MIDDLEWARE=[
            "django.middleware.csrf.CsrfViewMiddleware",
            "stylecloak.adapters.django.StylecloakMiddleware",
        ],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [HERE + "/templates"]}],
        STORAGES={
            "default": {
                "BACKEND": "stylecloak.adapters.django.CloakingStorage",
                "OPTIONS": {"storage_options": {"location": tempfile.mkdtemp(prefix="stylecloak-django-")}},
            },
        },
        STYLECLOAK_CLOAK_OPTIONS={"steps": 2},
        STYLECLOAK_ARTIST_ID="tests.adapters.django.site.artist_from_header",
    )
    django.setup()

__all__ = ["broken_client", "cloaked_jpeg", "engine_client", "fast_client", "jpeg", "png"]
