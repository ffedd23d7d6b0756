"""The one wiring place: the web app gunicorn serves (`gunicorn wsgi:app`), and every `flask --app wsgi` command."""

from webapp import create_app
from webapp.plumbing import logs
from workers import commands as process_commands

app = create_app()
process_commands.register(app)
logs.configure_from(app.config)
