"""The HTTP kit every surface shares: body parsing, the JSON error shape, access control, request
ids and metrics, endpoint declarations and the OpenAPI document, the server."""
