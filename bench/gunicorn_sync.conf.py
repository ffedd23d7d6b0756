"""gunicorn as Bellhop's web tier ran before slow clients were handled: stock settings, nothing patched.

The ingest benchmark runs it with sync workers beside the Procfile's gevent workers.
"""
