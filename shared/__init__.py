"""The model package the API and the Job Tracker share: models, sessions, rules and use cases."""
