# The smallest settings for the docs' example project (docs/django.rst runs
# its manage.py, wsgi.py and asgi.py).
SECRET_KEY = "docs-example-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "mysite.urls"
USE_TZ = True
