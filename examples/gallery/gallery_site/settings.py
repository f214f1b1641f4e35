"""Settings of the Palette demo gallery: a small art-sharing site with stylecloak on by default.

Everything a deployment would change comes from the environment: ``GALLERY_DATA_DIR`` (database,
public media, private originals), ``GALLERY_SECRET_KEY``, ``GALLERY_DEBUG``, ``GALLERY_ALLOWED_HOSTS``,
``GALLERY_CLOAK_OPTIONS`` (JSON, e.g. ``{"steps": 2}`` for tests), and the SDK's own ``STYLECLOAK_*``
variables (backend, endpoint, intensity, quality…), which the stylecloak client reads itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("GALLERY_DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("GALLERY_SECRET_KEY", "palette-demo-only-not-secret")
DEBUG = os.environ.get("GALLERY_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", *filter(None, os.environ.get("GALLERY_ALLOWED_HOSTS", "").split(","))]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "artworks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Every image uploaded to the site is cloaked before a view sees it.
    "stylecloak.adapters.django.StylecloakMiddleware",
]

ROOT_URLCONF = "gallery_site.urls"
WSGI_APPLICATION = "gallery_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "artworks.context.rights",
            ],
        },
    },
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "gallery.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "my-gallery"
LOGOUT_REDIRECT_URL = "explore"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Public, cloaked images; originals stay private (served only to their owner).
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
PRIVATE_ROOT = DATA_DIR / "private"
FILE_UPLOAD_PERMISSIONS = 0o640

# stylecloak: the site's uploads all arrive in the "image" field, so that field is strict (a file
# in it that is not an image is refused with the site's own error page).
STYLECLOAK_FIELDS = ["image"]
STYLECLOAK_MAX_BYTES = 25 * 1024 * 1024
STYLECLOAK_ERROR_TEMPLATE = "artworks/refused.html"
STYLECLOAK_CLOAK_OPTIONS = json.loads(os.environ.get("GALLERY_CLOAK_OPTIONS") or "{}")
DATA_UPLOAD_MAX_MEMORY_SIZE = 26 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"stylecloak": {"handlers": ["console"], "level": "INFO"}},
}
