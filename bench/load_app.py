"""The WSGI application ``bench/bench_load.py`` serves under gunicorn: the project's own
handler (middleware, token authentication, scoping, read audit) with DEBUG off and the
throttles out of the load test's way, as ``common.api_handler`` gives it in-process.

    gunicorn load_app:application --pythonpath bench,.

The data keys of the demo database are the development ones, which the settings refuse
with DEBUG off; so the settings load with DEBUG on and DEBUG is switched off here, before
the first request (no query log, no debug pages).
"""

from common import api_handler
from django.conf import settings

application = api_handler()
settings.DEBUG = False
