"""The one wiring place: the web app gunicorn serves (`gunicorn wsgi:app`), and every `flask --app wsgi` command."""

from webapp import create_app
from webapp.flask_config import stopping_on_bad_settings
from webapp.plumbing import logs
from workers import commands as process_commands

with stopping_on_bad_settings():
    app = create_app()
process_commands.register(app)
logs.configure_from(app.config)
