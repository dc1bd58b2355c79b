"""gunicorn's settings for the API, used as
`python -m gunicorn -c gunicorn.conf.py -w 4 -b HOST:PORT 'api:create_app()'`.

gunicorn's default worker serves one connection at a time, so a client that sends half a request
holds a whole worker until the worker timeout kills it: four such clients stopped a four-worker
API for 30 s. The threaded worker gives each connection a thread, so a stalled client holds one
thread of THREADS, and the worker's main loop keeps accepting and keeps its heartbeat. gunicorn has
no timeout for a request that has started arriving: each stalled client holds its thread until it
goes away, so it takes THREADS of them on one worker to make that worker's new requests wait.
"""

# The threaded worker: connections waiting between requests cost no thread, only a socket.
worker_class = "gthread"
# Threads per worker; workers come from -w (gunicorn's default, 1, or WEB_CONCURRENCY).
threads = 32
# Seconds an idle kept-alive connection is held open for the client's next request.
keepalive = 5
# A worker whose main loop stops for this long is restarted (the default, said here).
timeout = 30
# Requests in hand get this long after SIGTERM (a request waits at most twice DATABASE_TIMEOUT).
graceful_timeout = 30
# The request line: 0 is gunicorn's "no limit", the one setting above 8190 bytes it allows. The
# README promises that an identifier of 10,000 characters (up to 90,000 bytes once
# percent-encoded) gets Rx-Universe's 404 code 01, which a request line of 8190 bytes cannot
# carry. The price: gunicorn holds a request line in memory however long a client makes it.
limit_request_line = 0
# Headers: up to 256 of them, each up to 128 KiB (gunicorn's defaults are 100 and 8190 bytes),
# about the room waitress gives under run_api.py (256 KiB for the request line and headers).
limit_request_fields = 256
limit_request_field_size = 128 * 1024
