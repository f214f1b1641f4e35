from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

from artworks.models import Artwork


class ArtworkForm(forms.ModelForm):
    class Meta:
        model = Artwork
        fields = ["title", "description", "image"]  # noqa: RUF012
        widgets = {  # noqa: RUF012
            "title": forms.TextInput(attrs={"placeholder": "Untitled study in blue", "autofocus": True}),
            "description": forms.Textarea(attrs={"rows": 3, "placeholder": "Medium, process, the story behind it…"}),
            "image": forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif,image/tiff"}),
        }
        help_texts = {"image": "JPEG, PNG, WebP, GIF or TIFF, up to 25 MB."}  # noqa: RUF012


class SignUpForm(UserCreationForm):  # type: ignore[type-arg]
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ["username"]  # noqa: RUF012
