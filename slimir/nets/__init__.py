"""Network definitions with TF-Slim's scopes, variable names and end points."""
