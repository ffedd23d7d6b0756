"""The WSGI entry point gunicorn serves: `gunicorn wsgi:app`."""

from webapp import create_app

app = create_app()
