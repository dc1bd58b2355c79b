"""The Rx-Universe v2 contract, as documented: one module per resource, with its routes, its
schemas and its answers. It never imports the simulator's controls (an import contract holds it)."""

TAG = "Rx-Universe v2"
