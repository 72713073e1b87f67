"""The runtime layer, below the engine: what a run is given (``context``), what is wrong
with a canvas (``problems``), what a node is and the registry of node classes
(``node``), and the protocol every kind of canvas graph implements with the registry of
graph kinds (``graphs``). Nothing here imports the engine, the nodes, the agentflow
package, the queue or the server; they all import this."""
