"""Settings of the example shop: Django's usual apps, pq's app, and one app of ours."""

import os

from pq.contrib.django import database_settings

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "pq.contrib.django",  # app, manage.py pq, checks, admin
    "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "site_config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --8<-- [start:pq]
# PQ_DATABASE_URL, else pq's embedded development Postgres (started on first use).
DATABASES = {"default": database_settings(os.environ.get("PQ_DATABASE_URL"))}
USE_TZ = True

# pq: the default database alias; `manage.py pq worker` takes the shop queue by default.
PQ = {"queues": ["shop"]}
# --8<-- [end:pq]
