"""The web tier: blueprints, Flask-Admin, sign-in state and the middleware every response passes."""
