"""Template context: the site's do-not-train meta tags, on every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.safestring import mark_safe
from stylecloak.rights import RightsPolicy, html_meta_tags

_POLICY = RightsPolicy.from_env()


def rights(request: HttpRequest) -> dict[str, str]:
    return {"rights_meta": mark_safe(html_meta_tags(_POLICY))}
