"""The lab simulator behind `run_lab.py`: a client of the API, driving orders over HTTP only."""
