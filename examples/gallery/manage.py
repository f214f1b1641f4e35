#!/usr/bin/env python
"""The demo gallery's Django command line: ``python manage.py migrate && python manage.py runserver``."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
