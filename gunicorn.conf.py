"""gunicorn's settings: its own lines (start-up, errors, requests) in Bellhop's log format and level."""

from webapp import logs
from webapp.config import flask_config, load_settings

logconfig_dict = logs.dict_config(flask_config(load_settings()))
# The request id, as the response returned it, at the end of each access line.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
