"""The WSGI entry point gunicorn serves: `gunicorn wsgi:app`."""

from webapp import create_app, logs

app = create_app()
logs.configure_from(app.config)
