"""The ingest baseline: a bare Flask JSON endpoint under the same gunicorn settings."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/webhooks/events")
def receive():
    """Parse the JSON body and answer 202, doing nothing else."""
    request.get_json(force=True)
    return jsonify(status="applied"), 202
