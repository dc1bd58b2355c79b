"""The Rx-Universe v2 API simulator: the app factory (`api.app`), its HTTP kit (`api.http`), and
three surfaces: the v2 contract (`api.v2`), the simulator's controls (`api.sim`), the pages
(`api.web`)."""
