"""Create an artist account, and optionally fill their gallery with sample paintings (cloaked on the way in).

python manage.py seed_gallery ada --password 'a long passphrase' --samples ../../../shared/art
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandParser
from stylecloak.adapters.django.conf import client_from_settings, policy_from_settings
from stylecloak.middleware import Upload, UploadProtector

from artworks.models import Artwork

SAMPLE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class Command(BaseCommand):
    help = "Create an artist (and sample artworks, protected through the same policy as uploads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--samples", type=Path, help="Folder of images to add to the artist's gallery.")

    def handle(self, *args: Any, username: str, password: str, samples: Path | None, **options: Any) -> None:
        user, created = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} artist {username}")
        if samples is None:
            return
        protector = UploadProtector(policy_from_settings(), client=client_from_settings())
        for path in sorted(samples.iterdir()):
            if path.suffix.lower() not in SAMPLE_SUFFIXES:
                continue
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            outcome = protector.protect(
                Upload(path.read_bytes(), path.name, content_type, "image"), artist_id=str(user.pk)
            )
            title = path.stem.replace("_", " ").title()
            artwork = Artwork(owner=user, title=title)
            artwork.image.save(path.name, ContentFile(outcome.upload.data), save=False)
            artwork.record(outcome.upload.data, outcome)
            artwork.save()
            self.stdout.write(f"  {title}: {outcome.status}")
