"""The API's blueprints: Rx-Universe's v2 endpoints and the simulator's own controls."""
